"""Entries from the information system: read CE queues (GLUE 2.0 / 1.3 from a BDII over LDAP,
HTCondor-CE ads from a collector), write them as factory entries, refresh them periodically.

    queues.py    CEQueue, the one shape every source yields, and its entry
    ldap.py      the LDAP search (ldap3) the GLUE readers use
    glue2.py     GLUE 2.0 ComputingService/Endpoint/Share -> CEQueue (parsing is pure)
    glue1.py     GLUE 1.3 GlueCE -> CEQueue (pure)
    ce_ads.py    HTCondor-CE collector ads (OSG_ResourceCatalog) -> CEQueue (pure) and the query
    generate.py  queues + previous entries -> new entries, changes (pure)
    refresh.py   one refresh: read sources, write the entries file, log each change
"""
