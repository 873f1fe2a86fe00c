"""Property tests of the HTTP API and WebSockets against one live service per database."""
