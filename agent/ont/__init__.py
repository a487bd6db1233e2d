"""The ONT over OMCI (ITU-T G.988): frames, managed entities, a sans-IO client and its transports.

Layers, each usable alone:
  frames      baseline (0x0A) and extended (0x0B) OMCI messages on the wire, CRC and MIC
  layers      the same messages as scapy packets bound to ethertype 0x88B5 (capture, dissection)
  messages    the contents of each message type we send or read
  entities    managed entities (ONU-G, ANI-G, PM history data …) and their attribute codecs
  session     sans-IO: one outstanding request, correlation by transaction id, timeouts, retries
  procedures  sans-IO generators: MIB upload, Get with mask splitting, Test, the optical poll
  transport   UDP tunnel and raw Ethernet (0x88B5) carriers
  capture     `--pcap`: the exchange as Ethernet/0x88B5 frames
  driver      runs procedures over a transport with asyncio
  source      the agent's `optical` measurement source; cli: `qiyas ont info`
"""
