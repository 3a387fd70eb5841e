import Foundation
import Testing

/// docs/architecture.md's "The life of a packet" names, as `name()`, each function one
/// frame passes from the RX ring to the TX ring. This keeps the walk true: every name must
/// be declared as a function in the sources, so renaming a step without the doc fails.
@Suite struct LifeOfAPacketDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The text of the section, up to the next `## ` heading.
    static func section() throws -> String {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = doc.range(of: "\n## The life of a packet\n") else { return "" }
        let rest = doc[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    /// Every `name()` in `text`, in order of first appearance.
    static func functionNames(in text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "`") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "`") else { break }
            let token = after[..<close]
            if token.hasSuffix("()"), let first = token.first, first.isLetter,
               token.dropLast(2).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
               !names.contains(String(token.dropLast(2))) {
                names.append(String(token.dropLast(2)))
            }
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// Every Swift source under Sources/, concatenated.
    static func sources() throws -> String {
        var text = ""
        let sourcesURL = root.appendingPathComponent("Sources")
        guard let files = FileManager.default.enumerator(at: sourcesURL, includingPropertiesForKeys: nil) else { return text }
        for case let url as URL in files where url.pathExtension == "swift" {
            text += try String(contentsOf: url, encoding: .utf8) + "\n"
        }
        return text
    }

    @Test func everyFunctionTheWalkNamesExists() throws {
        let names = Self.functionNames(in: try Self.section())
        // The walk names the stages' entry points; far fewer means the section is gone or
        // its names are no longer written as `name()`.
        #expect(names.count >= 20, "found \(names)")
        for stage in ["ingress", "normalAction", "interpretFlows", "egress"] {
            #expect(names.contains(stage), "the walk does not name \(stage)()")
        }
        let sources = try Self.sources()
        for name in names {
            let declared = sources.contains("func \(name)(") || sources.contains("func \(name)<")
            #expect(declared, "docs/architecture.md names \(name)(), which no source declares")
        }
    }

    @Test func theNameScannerFindsOnlyCallLikeTokens() {
        let names = Self.functionNames(in: "a `ingress()` b `Port` c `egress()` d `ingress()` `x y()` `txQueue`")
        #expect(names == ["ingress", "egress"])
    }
}
