"""Everything Solana, and never a line of agent: keys and their derivation, off-chain message
signing, transaction assembly, SPL helpers, Jupiter route decoding and swap verification, and the
clusters (:class:`RpcCluster` over JSON-RPC, the in-process :class:`LocalCluster`, and the
:class:`LocalnetServer` serving it). :func:`decode`, :func:`verify` and :func:`sign_v1` read,
check and sign off-chain messages; :func:`sign` signs a transaction.
"""

from onchain.cluster import (
    Blockhash,
    Cluster,
    ClusterBadResponse,
    ClusterError,
    ClusterRejected,
    ClusterUnavailable,
    Confirmation,
)
from onchain.derive import derive_keypair
from onchain.jupiter_program import (
    JUPITER_V6_PROGRAM_ID,
    DecodedSwap,
    UndecodableSwap,
    account_names,
    argument_names,
    decode_swap,
    encode_swap,
    program_authority,
    with_slippage,
)
from onchain.keys import KeyFileError, generate_keypair_file, load_keypair, write_keypair
from onchain.local_cluster import LocalCluster
from onchain.localnet import LocalnetServer, end_connections
from onchain.lookup_tables import LOOKUP_TABLE_PROGRAM_ID, resolve_lookup_tables
from onchain.offchain_message import (
    SIGNING_DOMAIN,
    OffchainMessage,
    OffchainMessageError,
    decode,
    encode_v0,
    encode_v1,
    sign_v1,
    verify,
)
from onchain.rpc_cluster import RpcCluster
from onchain.settlement import TokenLeg, settlement_instructions
from onchain.spl import (
    NATIVE_MINT,
    TOKEN_PROGRAM_ID,
    associated_token_address,
    create_ata_idempotent,
    wrap_sol,
)
from onchain.swap_verification import (
    DEFAULT_ALLOWED_PROGRAMS,
    Check,
    SwapExpectation,
    SwapRefused,
    VerifiedSwap,
    verify_message,
    verify_swap_instructions,
)
from onchain.transactions import (
    LAMPORTS_PER_SIGNATURE,
    MAX_TRANSACTION_SIZE,
    ComputeBudget,
    MissingSigner,
    compile_v0,
    fee_lamports,
    limit_from_simulation,
    sign,
    signed_by,
    to_base64,
)

__all__ = [
    "DEFAULT_ALLOWED_PROGRAMS",
    "JUPITER_V6_PROGRAM_ID",
    "LAMPORTS_PER_SIGNATURE",
    "LOOKUP_TABLE_PROGRAM_ID",
    "MAX_TRANSACTION_SIZE",
    "NATIVE_MINT",
    "SIGNING_DOMAIN",
    "TOKEN_PROGRAM_ID",
    "Blockhash",
    "Check",
    "Cluster",
    "ClusterBadResponse",
    "ClusterError",
    "ClusterRejected",
    "ClusterUnavailable",
    "ComputeBudget",
    "Confirmation",
    "DecodedSwap",
    "KeyFileError",
    "LocalCluster",
    "LocalnetServer",
    "MissingSigner",
    "OffchainMessage",
    "OffchainMessageError",
    "RpcCluster",
    "SwapExpectation",
    "SwapRefused",
    "TokenLeg",
    "UndecodableSwap",
    "VerifiedSwap",
    "account_names",
    "argument_names",
    "associated_token_address",
    "compile_v0",
    "create_ata_idempotent",
    "decode",
    "decode_swap",
    "derive_keypair",
    "encode_swap",
    "encode_v0",
    "encode_v1",
    "end_connections",
    "fee_lamports",
    "generate_keypair_file",
    "limit_from_simulation",
    "load_keypair",
    "program_authority",
    "resolve_lookup_tables",
    "settlement_instructions",
    "sign",
    "sign_v1",
    "signed_by",
    "to_base64",
    "verify",
    "verify_message",
    "verify_swap_instructions",
    "with_slippage",
    "wrap_sol",
    "write_keypair",
]
