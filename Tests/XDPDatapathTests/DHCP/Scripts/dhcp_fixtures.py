#!/usr/bin/python3
# Prints the frames DHCPScapyTests sends and compares against, built by scapy (Debian's
# python3-scapy: run with /usr/bin/python3). The network is the reference design's: dnsmasq's port
# ns-… at 10.1.0.3 on 10.1.0.0/24, gateway 10.1.0.1, a VM at 10.1.0.5; the options are
# what DHCPHarness.reference configures, written here independently of the Swift encoder.
from scapy.all import Ether, IP, UDP, BOOTP, DHCP, ARP, Padding, raw

server, vm = "fa:16:3e:00:00:03", "fa:16:3e:aa:00:05"
server_ip, vm_ip = "10.1.0.3", "10.1.0.5"
chaddr = bytes.fromhex(vm.replace(":", "")) + b"\0" * 10
xid = 0x5EED0001
client_id = b"\x01" + bytes.fromhex(vm.replace(":", ""))
asks = [1, 3, 6, 12, 15, 26, 28, 51, 54, 58, 59, 121, 249]


def ip4(text):
    return bytes(int(x) for x in text.split("."))


# RFC 3442: width, significant destination octets, router.
def route(prefix, length, router):
    return bytes([length]) + ip4(prefix)[: (length + 7) // 8] + ip4(router)


routes = route("169.254.169.254", 32, "10.1.0.2") + route("10.2.0.0", 16, "10.1.0.1") + route("0.0.0.0", 0, "10.1.0.1")
common = [("subnet_mask", "255.255.255.0"), ("broadcast_address", "10.1.0.255"), ("router", "10.1.0.1"),
          ("name_server", "8.8.8.8", "8.8.4.4"), (15, b"openstacklocal"), (12, b"host-10-1-0-5"),
          (26, (1450).to_bytes(2, "big")), (121, routes), (249, routes)]
lease = [("lease_time", 120), ("renewal_time", 60), ("rebinding_time", 105)]


def request(kind, options, flags=0, ciaddr="0.0.0.0", src="0.0.0.0", dst="255.255.255.255",
            dmac="ff:ff:ff:ff:ff:ff"):
    return (Ether(src=vm, dst=dmac) / IP(src=src, dst=dst, id=1) / UDP(sport=68, dport=67)
            / BOOTP(op=1, xid=xid, flags=flags, ciaddr=ciaddr, chaddr=chaddr)
            / DHCP(options=[("message-type", kind), (61, client_id), ("param_req_list", asks)] + options + ["end"]))


def reply(kind, options, dst, dmac, yiaddr="0.0.0.0", ciaddr="0.0.0.0", flags=0):
    bootp = (BOOTP(op=2, xid=xid, flags=flags, ciaddr=ciaddr, yiaddr=yiaddr, chaddr=chaddr)
             / DHCP(options=[("message-type", kind), ("server_id", server_ip)] + options + [(61, client_id), "end"]))
    message = raw(bootp)
    message += b"\0" * max(0, 300 - len(message))
    return Ether(src=server, dst=dmac) / IP(src=server_ip, dst=dst, id=0, ttl=64) / UDP(sport=67, dport=68) / message


frames = [
    ("discover", request("discover", [])),
    ("offer", reply("offer", lease + common, vm_ip, vm, yiaddr=vm_ip)),
    ("discoverBroadcast", request("discover", [], flags=0x8000)),
    ("offerBroadcast", reply("offer", lease + common, "255.255.255.255", "ff:ff:ff:ff:ff:ff", yiaddr=vm_ip, flags=0x8000)),
    ("requestSelecting", request("request", [("server_id", server_ip), ("requested_addr", vm_ip)])),
    ("ack", reply("ack", lease + common, vm_ip, vm, yiaddr=vm_ip)),
    ("requestWrongAddress", request("request", [("server_id", server_ip), ("requested_addr", "10.1.0.99")])),
    ("nak", reply("nak", [], "255.255.255.255", "ff:ff:ff:ff:ff:ff")),
    ("requestRenewing", request("request", [], ciaddr=vm_ip, src=vm_ip, dst=server_ip, dmac=server)),
    ("ackRenewing", reply("ack", lease + common, vm_ip, vm, yiaddr=vm_ip, ciaddr=vm_ip)),
    ("inform", request("inform", [], ciaddr=vm_ip, src=vm_ip)),
    ("ackInform", reply("ack", common, vm_ip, vm, ciaddr=vm_ip)),
    ("release", request("release", [("server_id", server_ip)], ciaddr=vm_ip, src=vm_ip, dst=server_ip, dmac=server)),
    ("whoHas", Ether(src=vm, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=vm, psrc=vm_ip, pdst=server_ip)),
    ("isAt", Ether(src=server, dst=vm) / ARP(op=2, hwsrc=server, psrc=server_ip, hwdst=vm, pdst=vm_ip)
     / Padding(load=b"\0" * 18)),
]
for name, frame in frames:
    print(f'    static let {name} = "{raw(frame).hex()}"')
