"""The places herd: five servers that flood client locations and answer place queries."""
