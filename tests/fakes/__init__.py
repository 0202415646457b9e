"""Stand-ins for external services (never for our own), served on loopback sockets."""
