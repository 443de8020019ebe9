"""otc-agent: routes signed Solana trade intents between Jupiter and OTC liquidity."""

__version__ = "0.1.0"
