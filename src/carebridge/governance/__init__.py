"""Data governance over every domain: a patient's erasure (and, with it, consent, export,
retention and security alerts), which must read and act on every domain's data and so sits above
them all. The audit trail it builds on is the ``compliance`` domain, which every domain writes to
and which therefore sits below them."""
