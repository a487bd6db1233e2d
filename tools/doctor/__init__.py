"""`qiyas doctor -c CONFIG [--json]`: is this installation good? Checks in order, each with a fix.

Each check says pass, warn, fail or skip (its part is not configured, or what it needs failed
before it), with the reason in words a technician can act on and, when it is not a pass, the fix.
The checks use the agent's own modules (modem driver, OMCI client, STAMP sender, MQTT client), so
the doctor sees the hardware and the network the way the agent does.

One module per part of the installation (`probe`, `modem`, `ont`, `network`, `broker`,
`delivery`); each check is a function of a frozen `Context` returning a `Result`
(`results.py`); `checks.py` runs them in order and `cli.py` is the command.

Run it with the agent stopped (`systemctl stop qiyas-agent`): two programs reading one modem
port steal each other's answers. Its broker connections are the agent's client, and where the
broker names clients by their certificate (the production config) they resume the agent's
session: a signed command queued there for the stopped agent reaches the doctor, which does not
carry it out. Send commands once the agent runs again.
"""
