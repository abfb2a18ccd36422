"""The scan pool's orchestrator role (``twistd orchestrator``).

``tap`` wires it; ``service`` decides (requests, jobs, results); ``access`` says who may ask
what; ``pool`` owns the workers; ``queue`` holds the waiting jobs; ``store`` keeps it all in
SQLite; ``connection`` is the UDP face and ``worker_connection`` the TCP client of workers;
``snapshot``, ``metrics`` and ``dashboard`` show the pool.
"""
