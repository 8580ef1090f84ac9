"""``--canary``: an LLM agent reads each prim's llms.txt and uses the service end to end.

Pure parts (prompt building, verdicts, the loop with injected model and tools) are separate
from the parts that touch the network or processes (``chat``, ``tools``) and from the item glue
(``run``).
"""
