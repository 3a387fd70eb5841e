#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XDPDatapath

// The learned-state snapshot (Sources/XDPDatapath/L2/Datapath+LearnedState.swift) as a file
// beside the connection trackers' state files: what `xdpswitch run` and the node agent's
// engine both write every second and at exit, and learn back when they start. Control path:
// the snapshot is taken on the worker between two batches, the file written by the caller.
extension AFXDPEngine {
    /// The snapshot's file in a state directory.
    public static func learnedStatePath(inStateDirectory directory: String) -> String {
        directory + "/learned.state"
    }

    /// Learns back the snapshot at `path`, before the first packet if called before `start`;
    /// the one line saying what it restored or why it did not. Nil when there is no file.
    public func restoreLearnedState(from path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        guard let learned = LearnedState(text: text) else {
            return "\(path): not a snapshot this switch reads; learning afresh"
        }
        let restored = perform { datapath, now in datapath.restore(learned: learned, now: now) } ?? (macEntries: 0, neighbours: 0)
        return "\(path): restored \(restored.macEntries) MAC entries, \(restored.neighbours) neighbours"
    }

    /// Writes what the datapath learned to `path`: a new file renamed over the old one, so a
    /// reader (the next process) sees the last snapshot whole, even after a `kill -9` midway.
    public func saveLearnedState(to path: String) {
        guard let learned = perform({ datapath, now in datapath.learnedState(now: now) }) else { return }
        let temporary = path + ".new"
        do {
            try learned.text.write(toFile: temporary, atomically: false, encoding: .utf8)
            rename(temporary, path)
        } catch {
            unlink(temporary)
        }
    }
}
