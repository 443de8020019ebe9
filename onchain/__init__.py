"""Everything Solana: keys, off-chain message signing, transactions. Never imports agent."""
