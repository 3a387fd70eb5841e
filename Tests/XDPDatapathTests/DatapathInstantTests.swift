import Testing
import XDPDatapath

@Suite struct DatapathInstantTests {
    @Test func arithmeticWithDurationKeepsNanoseconds() {
        let start = DatapathInstant(nanoseconds: 5_000_000_000)
        #expect((start + .milliseconds(1_500)).nanoseconds == 6_500_000_000)
        #expect((start - .seconds(2)).nanoseconds == 3_000_000_000)
        #expect(start.advanced(by: .nanoseconds(7)).nanoseconds == 5_000_000_007)
        #expect(start.duration(to: start + .seconds(300)) == .seconds(300))
        #expect((start + .seconds(1)) - start == .seconds(1))
        #expect(start - (start + .seconds(1)) == .seconds(-1))
        var moving = start
        moving += .microseconds(3)
        #expect(moving.nanoseconds == 5_000_003_000)
    }

    @Test func arithmeticClampsAtTheClocksEnds() {
        #expect((DatapathInstant(nanoseconds: 10) - .seconds(1)) == .zero)
        #expect((DatapathInstant(nanoseconds: .max - 1) + .seconds(1)).nanoseconds == .max)
        #expect((DatapathInstant.zero + .seconds(Int64.max)).nanoseconds == UInt64(Int64.max), "a Duration past Int64 nanoseconds is clamped")
    }

    @Test func orderAndEqualityFollowNanoseconds() {
        let a = DatapathInstant(nanoseconds: 1), b = DatapathInstant(nanoseconds: 2)
        #expect(a < b && !(b < a) && a != b)
        #expect([b, a, b].sorted() == [a, b, b])
        #expect(Set([a, b, DatapathInstant(nanoseconds: 1)]).count == 2)
        #expect(max(a, b) == b)
    }

    @Test func descriptionIsSecondsToTheNanosecond() {
        #expect(DatapathInstant(nanoseconds: 12_000_000_345).description == "12.000000345s")
        #expect(DatapathInstant.zero.description == "0.000000000s")
    }

    @Test func nowReadsAClockThatDoesNotGoBackwards() {
        let first = DatapathInstant.now()
        let second = DatapathInstant.now()
        #expect(first > .zero)
        #expect(second >= first)
    }
}
