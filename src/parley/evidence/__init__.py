"""What a node can prove to a third party from its record: inclusion proofs, transcripts of a
channel's traffic, and their verification offline with nothing but the files and the cards.

The Merkle log, checkpoints and signed notes they rest on are ``parley.record``; the
cosigned checkpoints come from the witness exchange, ``parley.federation.witnessing``.
"""
