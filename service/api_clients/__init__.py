"""API clients: create, list and revoke the keys other systems call Credence with."""
