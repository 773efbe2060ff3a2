"""The people's self-service privacy portal (server-rendered, works without JavaScript)."""
