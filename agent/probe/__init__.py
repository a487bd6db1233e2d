"""The probe: STAMP latency, multi-stream TCP capacity, latency under load, DNS and TCP connect
times, and the measurement server it runs against."""
