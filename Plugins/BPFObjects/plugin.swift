// Build-tool plugin: compiles every `bpf/*.c` of the package with clang `-target bpf` and
// embeds each object in the target as a Swift hex string literal.
//
// Why embedded and not a resource: a copied `xdpswitch` binary must keep working, and a
// resource bundle is looked up next to the binary. Why a hex string: a string literal of a
// few tens of kilobytes type-checks in a fraction of a second, an `[UInt8]` literal of the
// same size takes many seconds. One command per object:
//   bpf-embed CLANG NAME.bpf.o BPF+NAME.swift name  clang-args...
// runs clang (bpf/NAME.bpf.c -> NAME.bpf.o) and writes
// `extension EmbeddedBPF { static let name: StaticString = "<hex>" }`.
// Every `bpf/*.h` is an input of every clang command, so editing a header rebuilds them all.
import Foundation
import PackagePlugin

@main
struct BPFObjects: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDirectory = context.package.directoryURL.appending(path: "bpf")
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: bpfDirectory.path)) ?? []
        let sources = entries.filter { $0.hasSuffix(".c") }.sorted()
        let headers = entries.filter { $0.hasSuffix(".h") }.sorted().map { bpfDirectory.appending(path: $0) }
        guard !sources.isEmpty else { return [] }

        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "bpf-embed").url
        let work = context.pluginWorkDirectoryURL
        var commands: [Command] = []
        for source in sources {
            let stem = String(source.dropLast(2))                 // "xsk_steer.bpf"
            let input = bpfDirectory.appending(path: source)
            let object = work.appending(path: stem + ".o")
            let swiftFile = work.appending(path: "BPF+" + stem.replacingOccurrences(of: ".", with: "_") + ".swift")
            // One command per object: bpf-embed runs clang itself, so the intermediate .o is
            // not a declared output (SwiftPM would copy undeclared-type outputs into a
            // resource bundle, which a copied binary cannot find).
            commands.append(.buildCommand(
                displayName: "Compiling and embedding BPF \(source)",
                executable: embed,
                arguments: [clang.path, object.path, swiftFile.path, identifier(for: stem),
                            "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                            "-I", bpfDirectory.path, "-c", input.path, "-o", object.path],
                inputFiles: [input] + headers,
                outputFiles: [swiftFile]))
        }
        return commands
    }

    /// "xsk_steer.bpf" -> "xskSteer"
    private func identifier(for stem: String) -> String {
        let base = stem.hasSuffix(".bpf") ? String(stem.dropLast(4)) : stem
        let words = base.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        guard let first = words.first else { return "object" }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined()
    }
}
