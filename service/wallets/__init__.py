"""Into the earner's wallet: offers of a credential over OID4VCI (pre-authorized code flow)
and VC-API exchanges, each delivering a copy bound to the wallet's DID, once."""
