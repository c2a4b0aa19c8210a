"""Plain typed data and rules of the support desk. No I/O, no SQL, no sockets."""
