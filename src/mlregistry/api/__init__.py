"""HTTP routers, one module per resource. Thin: parse, authorize (through services), wrap in envelopes."""
