#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import XDPDatapath

// Snapshots of counters and frame accounting, made by the worker between two iterations
// (or by any thread once the worker has stopped).
extension AFXDPEngine {
    func publishStatistics() {
        if fastPathOn, let datapath { fastPathSync(datapath, now: DatapathInstant.now().nanoseconds) }
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
        stats.workerCPUTime = .seconds(cpuSeconds)
        stats.framesPerKick = kicks.framesPerKick
        stats.maxFramesPerKick = kicks.maximum
        stats.frames = frameAccounting()
        stats.framesLost = framesLost
        stats.fastPathEntries = fastPathEntries.count
        stats.fastPathPackets = fastPathPackets
        stats.framesDroppedWithoutSocket = steering.framesDroppedWithoutSocket
        for port in ports {
            var interface = InterfaceStatistics(name: port.name, sockets: port.sockets, link: port.link,
                                                noTransportDrops: port.noTransportDrops)
            interface.add(port.closedSocketCounters)
            (interface.fastPathRxPackets, interface.fastPathRxBytes) = port.fastPathRx
            (interface.fastPathTxPackets, interface.fastPathTxBytes) = port.fastPathTx
            stats.interfaces.append(interface)
        }
        if let datapath {
            for port in datapath.ports { stats.datapathPorts[port.name] = port.stats }
        }
        return stats
    }

    /// Worker thread (or stopped engine) only.
    private func frameAccounting() -> FrameAccounting {
        // Frames on port queues, held fragments, frames routers keep for ARP answers and
        // frames waiting for an underlay ARP answer are the datapath's (`framesQueued`).
        let inFlight = datapath?.framesQueued ?? 0
        return FrameAccounting(total: umem.frameCount, free: pool.freeCount, inFlight: inFlight,
                               sockets: sockets + (anchor.map { [$0] } ?? []))
    }
}
