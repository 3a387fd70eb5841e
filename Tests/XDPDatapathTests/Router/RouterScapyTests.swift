import Testing
import XDPDatapath
import XDPPacket

/// The router's frames against scapy's, byte for byte (Scripts/router_fixtures.py
/// printed these with /usr/bin/python3). Scapy computes every checksum from scratch, so
/// the forwarded frame also checks the RFC 1624 update.
@Suite struct RouterScapyTests {
    typealias H = RouterHarness
    static let udpIn = "fa163e000001fa163eaa000508004500002e00070000401160a30a010005080808089c400035001a00de000102030405060708090a0b0c0d0e0f1011"
    static let udpOut = "0242ac1804e1fa163e00000208004500002e000700003f1161a30a010005080808089c400035001a00de000102030405060708090a0b0c0d0e0f1011"
    static let expiring = "fa163e000001fa163eaa000508004500002e004d000001119f5d0a010005080808089c400035001a00de000102030405060708090a0b0c0d0e0f1011"
    static let timeExceeded = "fa163eaa0005fa163e000001080045c0004a00000000400165ec0a0100010a0100050b000f41000000004500002e004d000001119f5d0a010005080808089c400035001a00de000102030405060708090a0b0c0d0e0f1011"
    static let ping = "fa163e000001fa163eaa0005080045000054006300004001663f0a0100050a0100010800eeb712340001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
    static let pong = "fa163eaa0005fa163e000001080045000054006300004001663f0a0100010a0100050000f6b712340001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
    static let whoHas = "fffffffffffffa163eaa000508060001080006040001fa163eaa00050a0100050000000000000a010001"
    static let isAt = "fa163eaa0005fa163e00000108060001080006040002fa163e0000010a010001fa163eaa00050a010005000000000000000000000000000000000000"

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }

    @Test func arpReplyMatchesScapy() throws {
        let h = try H()
        h.send(Self.bytes(Self.whoHas))
        #expect(h.sent(H.qr) == [Self.bytes(Self.isAt)])
    }

    @Test func forwardedFrameMatchesScapy() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(Self.bytes(Self.udpIn))
        #expect(h.sent(H.qg) == [Self.bytes(Self.udpOut)])
    }

    @Test func timeExceededMatchesScapy() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(Self.bytes(Self.expiring))
        #expect(h.sent(H.qr) == [Self.bytes(Self.timeExceeded)])
    }

    @Test func echoReplyMatchesScapy() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(Self.bytes(Self.ping))
        #expect(h.sent(H.qr) == [Self.bytes(Self.pong)])
    }
}
