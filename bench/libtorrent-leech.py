#!/usr/bin/python3
# A stock libtorrent 2.0 leecher for bench:transfer (Debian python3-libtorrent; run it with /usr/bin/python3).
# libtorrent's default settings except those test/fixtures/libtorrent-peer.py also changes: one loopback
# address, no DHT, local discovery, UPnP or NAT-PMP. Encryption stays as libtorrent ships it (MSE enabled both
# ways, RC4 and plaintext both allowed, plaintext not preferred over RC4 by default: the responder picks), and
# uTP is tried first as shipped (the seeders here listen on TCP only).
#
# Unlike the test fixture this process is up and idle before the measured fetch (as the other leechers are),
# times the fetch itself from libtorrent's own finished alert (no polling step), records the stream cipher
# the connection to the seeder negotiated, and stays alive after the fetch so that the parent can still read
# its /proc figures. Protocol, JSON lines:
#   → {"event":"ready"}
#   ← {"infoHash":..,"savePath":..,"host":..,"port":..}   (one line on stdin)
#   → {"event":"done","ms":..,"firstByteMs":..,"bytes":..,"encryption":"rc4"|"plaintext"|"none"|"unknown"}
#     ms from add_torrent (a magnet) to the torrent_finished alert; firstByteMs from the add to the first payload
#     byte (connection setup: libtorrent tries uTP first, the seeders here have none; then the metadata)
# then waits until stdin closes (or SIGTERM) and exits.
import json
import sys
import time

import libtorrent as lt


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def cipher(peer):
    if peer.flags & lt.peer_info.rc4_encrypted:
        return "rc4"
    # MSE handshake made, then the plaintext method chosen for the stream
    if peer.flags & lt.peer_info.plaintext_encrypted:
        return "plaintext"
    return "none"


def main():
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    say(event="ready")
    order = json.loads(sys.stdin.readline())
    params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{order['infoHash']}")
    params.save_path = order["savePath"]
    started = time.monotonic()
    h = ses.add_torrent(params)
    h.connect_peer((order["host"], int(order["port"])))
    encryption = "unknown"
    first_byte = None
    last_look = 0.0
    while True:
        # Until the first payload byte, look every 2 ms: the transfer's own time starts there.
        ses.wait_for_alert(2 if first_byte is None else 20)
        finished = any(isinstance(a, lt.torrent_finished_alert) for a in ses.pop_alerts())
        now = time.monotonic()
        if first_byte is None and h.status().total_payload_download > 0:
            first_byte = now
        # The seeder's connection closes once both sides are complete: look at it while it is there.
        if now - last_look > 0.05 or finished:
            last_look = now
            peers = h.get_peer_info()
            if peers:
                encryption = cipher(peers[0])
        if finished:
            s = h.status()
            say(event="done", ms=round((now - started) * 1000, 1), firstByteMs=round(((first_byte or now) - started) * 1000, 1),
                bytes=s.total_wanted, encryption=encryption)
            break
    # Alive until the parent has read /proc and closes stdin.
    sys.stdin.read()


main()
