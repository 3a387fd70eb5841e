import Foundation
import NeutronModel
import Testing

/// The model's JSON reader and writer (`JSONValue+Text.swift`): what every request body and
/// stored resource goes through.
@Suite("JSON text")
struct JSONTextTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.decode(Data(text.utf8)) }

    @Test func readsAndWritesEveryKindOfValue() throws {
        let value = try parse(#" {"b": [true, false, null], "a": -12, "c": 0.5, "d": 1e3, "e": "x\"y\\z\n\u00e9\ud83d\ude00/", "f": {}} "#)
        #expect(value == .object(["a": .int(-12), "b": .array([.bool(true), .bool(false), .null]), "c": .double(0.5),
                                  "d": .double(1000), "e": .string("x\"y\\z\né😀/"), "f": .object([:])]))
        let text = try JSONValue.encodeText(value)
        #expect(text == #"{"a":-12,"b":[true,false,null],"c":0.5,"d":1000.0,"e":"x\"y\\z\né😀/","f":{}}"#)
        #expect(try parse(text) == value)
        #expect(try JSONValue.encodeText(.string("\u{1}\t")) == #""\u0001\t""#)
        #expect(try parse("1700000000.25") == .double(1_700_000_000.25))
        #expect(try parse(try JSONValue.encodeText(.double(1_700_000_000.25))) == .double(1_700_000_000.25))
        #expect(try parse(#"{"a": 1, "a": 2}"#) == .object(["a": .int(2)]))
        #expect(throws: (any Error).self) { try JSONValue.encodeText(.double(.infinity)) }
    }

    @Test(arguments: ["", " ", "[1,]", #"{"a":1,}"#, "01", "1.", ".5", "-", "tru", "[1] x", #""\x""#, #""\ud800""#,
                      #""\udc00""#, "\"a\tb\"", #"{"a"}"#, "[", #""abc"#, "{1: 2}", "NaN"])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONValue.SyntaxError.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() throws {
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.decode(Data([0x22, 0xC3, 0x28, 0x22])) }
        let depth = JSONValue.maximumDepth
        #expect(try parse(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)) != .null)
        #expect(throws: JSONValue.SyntaxError.self) {
            try parse(String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1))
        }
        #expect(throws: JSONValue.SyntaxError.self) { try parse(String(repeating: "[", count: 100_000)) }
    }
}
