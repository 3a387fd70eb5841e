// Build-tool plugin: compiles the eBPF programs of one target with clang `-target bpf` and
// embeds each object in that target as a Swift hex string literal.
//
// Each target that uses the plugin has its own folder of programs (`bpfFolders`): the
// datapath's steering program is embedded in AFXDP only, the lab's load generator and
// counting sink in XDPLab only, so a program built into the library never carries lab code.
//
// Why embedded and not a resource: a copied `xdpswitch` binary must keep working, and a
// resource bundle is looked up next to the binary. Why a hex string: a string literal of a
// few tens of kilobytes type-checks in a fraction of a second, an `[UInt8]` literal of the
// same size takes many seconds. One command per object:
//   bpf-embed CLANG NAME.bpf.o BPF+NAME.swift name IMPORT clang-args...
// runs clang (bpf/FOLDER/NAME.bpf.c -> NAME.bpf.o) and writes
// `extension EmbeddedBPF { static let name: StaticString = "<hex>" }` (after `import IMPORT`
// when the target is not AFXDP, which declares `EmbeddedBPF`).
// Every `.h` of the folder and of `bpf/` is an input of every clang command, so editing a
// header rebuilds them all.
//
// The kernel UAPI headers (`asm/types.h`) live in the multiarch include folder of the
// build machine (`/usr/include/x86_64-linux-gnu`, `/usr/include/aarch64-linux-gnu`, ...),
// which `clang -target bpf` does not search: `multiarchIncludeFolder` finds it.
import Foundation
import PackagePlugin

@main
struct BPFObjects: BuildToolPlugin {
    /// The folder below `bpf/` whose programs each target embeds.
    static let bpfFolders = ["AFXDP": "datapath", "XDPLab": "lab"]
    /// The module that declares `EmbeddedBPF`.
    static let declaringModule = "AFXDP"

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let folder = Self.bpfFolders[target.name] else {
            throw PluginError("target \(target.name) has no eBPF folder: add it to bpfFolders in Plugins/BPFObjects")
        }
        let bpfRoot = context.package.directoryURL.appending(path: "bpf")
        let bpfDirectory = bpfRoot.appending(path: folder)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: bpfDirectory.path)) ?? []
        let sources = entries.filter { $0.hasSuffix(".c") }.sorted()
        let headers = (entries.filter { $0.hasSuffix(".h") }.map { bpfDirectory.appending(path: $0) }
            + Self.headers(in: bpfRoot)).sorted { $0.path < $1.path }
        guard !sources.isEmpty else { return [] }

        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "bpf-embed").url
        let work = context.pluginWorkDirectoryURL
        let importModule = target.name == Self.declaringModule ? "-" : Self.declaringModule
        let multiarch = Self.multiarchIncludeFolder().map { ["-I", $0] } ?? []
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
                displayName: "Compiling and embedding BPF \(folder)/\(source)",
                executable: embed,
                arguments: [clang.path, object.path, swiftFile.path, identifier(for: stem), importModule,
                            "-O2", "-g", "-target", "bpf"] + multiarch
                    + ["-I", bpfDirectory.path, "-I", bpfRoot.path, "-c", input.path, "-o", object.path],
                inputFiles: [input] + headers,
                outputFiles: [swiftFile]))
        }
        return commands
    }

    /// The `.h` files directly in `folder`.
    static func headers(in folder: URL) -> [URL] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return entries.filter { $0.hasSuffix(".h") }.map { folder.appending(path: $0) }
    }

    /// The folder of `/usr/include` that holds this machine's `asm/types.h`: the one named
    /// after the machine's architecture (`uname -m`, e.g. `x86_64-linux-gnu`) when there is
    /// one, else any that holds it (e.g. `arm-linux-gnueabihf` on armv7l); nil when the
    /// headers sit in `/usr/include/asm` itself.
    static func multiarchIncludeFolder(root: String = "/usr/include") -> String? {
        let fm = FileManager.default
        let folders = ((try? fm.contentsOfDirectory(atPath: root)) ?? [])
            .filter { $0.contains("-linux-") && fm.fileExists(atPath: "\(root)/\($0)/asm/types.h") }
            .sorted()
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let chosen = folders.first { $0.hasPrefix(machine + "-") } ?? folders.first
        return chosen.map { "\(root)/\($0)" }
    }

    /// "xsk_steer.bpf" -> "xskSteer"
    private func identifier(for stem: String) -> String {
        let base = stem.hasSuffix(".bpf") ? String(stem.dropLast(4)) : stem
        let words = base.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        guard let first = words.first else { return "object" }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined()
    }
}

struct PluginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
