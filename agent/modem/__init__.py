"""The cellular modem: serial driver with recovery, the `radio` source, `qiyas modem info`."""
