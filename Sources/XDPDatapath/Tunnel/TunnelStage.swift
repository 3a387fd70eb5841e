/// The state of the tunnel stage: the underlay (neighbours, frames waiting for an ARP
/// answer; `Underlay.swift`) and the `gre` ports as the per-packet path reads them
/// (`TunnelTable`, owned by the underlay; empty without one).
@frozen
@usableFromInline
struct TunnelStage {
    @usableFromInline let underlay: Underlay?
    @usableFromInline let table: TunnelTable

    init(configuration: UnderlayConfiguration?, portID: PortID, ports: [DatapathPort]) {
        underlay = configuration.map { Underlay(configuration: $0, portID: portID, ports: ports) }
        table = underlay?.tunnels ?? TunnelTable()
    }
}
