"""otc-agent: routes signed Solana trade intents between Jupiter and OTC liquidity."""
