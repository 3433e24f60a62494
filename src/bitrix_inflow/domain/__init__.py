"""The pure domain: stock math, split planning, status state machines, marking codes. No I/O lives here."""
