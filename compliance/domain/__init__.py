"""The domain: contracts, supply chain, evidence types, findings and their lifecycle."""
