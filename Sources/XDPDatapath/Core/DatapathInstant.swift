#if canImport(Glibc)
import Glibc
#endif

// The datapath's clock
// ====================
//
// Everything in the switch that ages — learned MAC entries, connection-tracker entries,
// flows with idle and hard timeouts, neighbour caches, held fragments, the fast path's
// verdicts — counts from one clock: `CLOCK_BOOTTIME`, in nanoseconds. It is monotonic (a
// wall-clock step does not age every MAC entry at once), it counts the time the machine
// was suspended (a connection idle across a suspend has been idle), and it is the same
// clock in the next process of the same boot, which is what lets a restarted switch go on
// with the connection timeouts it left in a state file (StateFile.swift).
//
// A bare `UInt64` of nanoseconds let a caller pass seconds, or the wall clock, and MAC
// aging broke without a word. `DatapathInstant` is that number with its unit and clock in
// its type, in the manner of swift-nio's `NIODeadline`: public calls take an instant and
// express spans as Swift's `Duration`. Per-packet code keeps the raw nanoseconds
// (`instant.nanoseconds`, read once at the public boundary): the struct is frozen and one
// word wide, so passing it costs what passing the integer did.

/// A point in time on the datapath's clock: nanoseconds of the monotonic boot-time clock
/// (`CLOCK_BOOTTIME`), which counts time suspended and never goes backwards.
///
/// Every datapath call that needs the time takes one (`now:`). A running switch reads it
/// with ``now()``; tests and tools drive their own (`EmbeddedDatapath`'s manual clock), from
/// any start, as long as it never goes backwards.
@frozen
public struct DatapathInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds since the clock's zero (the boot, for ``now()``).
    public let nanoseconds: UInt64

    /// The instant `nanoseconds` after the clock's zero.
    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The clock's zero.
    public static let zero = DatapathInstant(nanoseconds: 0)

    /// The time now on `CLOCK_BOOTTIME`: the clock the engine's worker, the state files and
    /// the fast path's timestamps all use.
    @inline(__always)
    public static func now() -> DatapathInstant {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return DatapathInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// This instant moved by `duration` (clamped at the clock's zero and at its end).
    @inlinable
    public func advanced(by duration: Duration) -> DatapathInstant {
        let delta = duration.nanosecondsClamped
        if delta >= 0 {
            let (sum, overflow) = nanoseconds.addingReportingOverflow(UInt64(delta))
            return DatapathInstant(nanoseconds: overflow ? .max : sum)
        }
        let back = delta.magnitude
        return DatapathInstant(nanoseconds: nanoseconds >= back ? nanoseconds - back : 0)
    }

    /// The time from this instant to `other` (negative when `other` is earlier).
    @inlinable
    public func duration(to other: DatapathInstant) -> Duration {
        other >= self ? .nanoseconds(other.nanoseconds - self.nanoseconds)
                      : .zero - .nanoseconds(self.nanoseconds - other.nanoseconds)
    }

    /// Whether `lhs` is earlier than `rhs`.
    @inlinable
    public static func < (lhs: DatapathInstant, rhs: DatapathInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// `lhs` moved forward by `rhs`.
    @inlinable
    public static func + (lhs: DatapathInstant, rhs: Duration) -> DatapathInstant { lhs.advanced(by: rhs) }

    /// `lhs` moved back by `rhs`.
    @inlinable
    public static func - (lhs: DatapathInstant, rhs: Duration) -> DatapathInstant { lhs.advanced(by: .zero - rhs) }

    /// The time from `rhs` to `lhs`.
    @inlinable
    public static func - (lhs: DatapathInstant, rhs: DatapathInstant) -> Duration { rhs.duration(to: lhs) }

    /// Moves `lhs` forward by `rhs`.
    @inlinable
    public static func += (lhs: inout DatapathInstant, rhs: Duration) { lhs = lhs.advanced(by: rhs) }

    /// The instant as seconds since the clock's zero, to the nanosecond: `"12.000000345s"`.
    public var description: String {
        let fraction = String(nanoseconds % 1_000_000_000)
        return "\(nanoseconds / 1_000_000_000).\(String(repeating: "0", count: 9 - fraction.count))\(fraction)s"
    }
}

extension Duration {
    /// The duration in seconds as a `Double` (for text and metrics that print seconds; the
    /// package's own, so it cannot clash with an embedder's extension of `Duration`).
    package var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration in whole nanoseconds (truncated toward zero), clamped to `Int64`'s range.
    @usableFromInline
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}
