#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import XDPDatapath

// Snapshots of counters and frame accounting, made by the worker between two iterations
// (or by any thread once the worker has stopped).
extension Engine {
    func publishStatistics() {
        lastWorkerCPU = cxdp_thread_cpu_microseconds()
        let stats = makeStatistics(cpuSeconds: Double(lastWorkerCPU - workerCPUStart) / 1e6)
        published.withLock { $0 = stats }
    }

    /// Worker thread (or stopped engine) only.
    func makeStatistics(cpuSeconds: Double) -> EngineStatistics {
        var stats = EngineStatistics()
        stats.iterations = iterations
        stats.sleeps = sleeps
        stats.rxBatches = rxBatches
        stats.workerCPUSeconds = cpuSeconds
        stats.framesPerKick = kicksMeasured == 0 ? 0 : Double(framesKicked) / Double(kicksMeasured)
        stats.maxFramesPerKick = maxFramesPerKick
        stats.frames = frameAccounting()
        for port in ports {
            var s = InterfaceStatistics(name: port.name, queues: port.sockets.count, attachMode: port.link?.mode ?? .auto,
                                        zeroCopy: port.sockets.first?.zeroCopy ?? false)
            var kernel = KernelXSKStatistics()
            var ringFullDrops: UInt64 = 0
            for socket in port.sockets {
                let c = socket.counters
                s.rxPackets += c.rxPackets; s.rxBytes += c.rxBytes
                s.txPackets += c.txPackets; s.txBytes += c.txBytes
                s.completed += c.completed
                s.txRingFullEvents += c.txRingFullEvents
                s.fillStarved += c.fillStarved
                s.txKicks += c.txKicks
                s.rxWakeups += c.rxWakeups
                ringFullDrops += c.txRingFullDrops
                kernel = kernel + socket.kernelStatistics()
            }
            s.kernel = kernel
            let drops: [(String, UInt64)] = [
                ("tx-ring-full", ringFullDrops), ("no-transport", port.noTransportDrops),
                ("rx-ring-full", kernel.rxRingFull), ("rx-dropped", kernel.rxDropped),
                ("rx-invalid-desc", kernel.rxInvalidDescriptors), ("tx-invalid-desc", kernel.txInvalidDescriptors),
            ]
            for (reason, count) in drops where count > 0 { s.drops[reason] = count }
            stats.interfaces.append(s)
        }
        if let datapath {
            for port in datapath.ports { stats.datapathPorts[port.name] = port.stats }
        }
        return stats
    }

    /// Worker thread (or stopped engine) only. Reads each ring's downstream index first so a
    /// frame moving during the reads lands in the kernel's share, never counted twice.
    private func frameAccounting() -> FrameAccounting {
        var a = FrameAccounting()
        a.total = umem.frameCount
        a.free = pool.freeCount
        if let datapath {
            // Frames on port queues, held fragments, frames routers keep for ARP answers
            // (`framesQueued`) and frames waiting for an underlay ARP answer are the datapath's.
            a.inFlight = datapath.framesQueued + (datapath.underlay?.pendingCount ?? 0)
        }
        for socket in sockets {
            let rxRing = XSKSocket.occupancy(producer: socket.rx.pointee.producer, consumer: socket.rx.pointee.consumer)
            let fillRing = XSKSocket.occupancy(producer: socket.fill.pointee.producer, consumer: socket.fill.pointee.consumer)
            a.rxRing += rxRing
            a.fillRing += fillRing
            a.kernelRX += socket.fillOutstanding - rxRing - fillRing
            let completionRing = XSKSocket.occupancy(producer: socket.completion.pointee.producer,
                                                     consumer: socket.completion.pointee.consumer)
            let txRing = XSKSocket.occupancy(producer: socket.tx.pointee.producer, consumer: socket.tx.pointee.consumer)
            a.completionRing += completionRing
            a.txRing += txRing
            a.kernelTX += socket.txOutstanding - completionRing - txRing
        }
        return a
    }
}
