"""netproc's network side: HTTPS transport and the ACME request session."""
