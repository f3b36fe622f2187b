"""Pure domain shared by every case type: who acts, tiers, the clock as an input,
working days, the SLA clock, named errors. No I/O: nothing here touches a database,
a network, the environment or the wall clock (except `Clock`, which callers pass in)."""
