"""Derives the mesh bench's domains and products from a gen_mesh NDJSON file (as
benches/mesh/summary.rs does: a domain per name prefix claiming its job namespaces and its
postgres://DOMAIN-oltp namespace, products of up to 25 output ports from the domain's `products`
layer, its `marts` datasets spread over them as internal datasets, every fifth product
restricted) and applies them to a running server over GraphQL, so that probes can ask for
product and domain lineage on a bench store.
usage: apply_mesh.py PORT MESH.ndjson"""
import json
import sys
import time
import urllib.request

PORTS_PER_PRODUCT = 25
port, data = sys.argv[1], sys.argv[2]
url = f"http://127.0.0.1:{port}/graphql"


def domain_and_layer(name):
    head = name.split(".")[0]
    if "_" not in head:
        return None
    return head.rsplit("_", 1)


namespaces, ports, marts = {}, {}, {}
with open(data) as lines:
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("eventType") != "COMPLETE":
            continue
        job_ns = event["job"]["namespace"]
        if "-" in job_ns:
            namespaces.setdefault(job_ns.rsplit("-", 1)[0], set()).add(job_ns)
        for dataset in event.get("outputs", []) + event.get("inputs", []):
            ns, name = dataset["namespace"], dataset["name"]
            if ns.startswith("postgres://"):
                host = ns[len("postgres://"):]
                if "-oltp" in host:
                    namespaces.setdefault(host.split("-oltp", 1)[0], set()).add(ns)
                continue
            found = domain_and_layer(name)
            if not found:
                continue
            domain, layer = found
            if layer == "products":
                ports.setdefault(domain, set()).add((ns, name))
            elif layer == "marts":
                marts.setdefault(domain, set()).add((ns, name))

domains, products = [], []
for domain in sorted(namespaces):
    domains.append({"kind": "Domain", "id": domain, "name": domain, "owners": [{"name": f"head-of-{domain}"}],
                    "namespaces": sorted(namespaces[domain])})
    domain_ports = sorted(ports.get(domain, ()))
    chunks = [domain_ports[i:i + PORTS_PER_PRODUCT] for i in range(0, len(domain_ports), PORTS_PER_PRODUCT)]
    domain_marts = sorted(marts.get(domain, ()))
    for k, chunk in enumerate(chunks):
        number = len(products)
        pid = f"{domain}.p{k}"
        internal = [{"namespace": ns, "name": name} for ns, name in domain_marts[k::len(chunks)]]
        products.append({"kind": "DataProduct", "id": pid, "name": pid, "domain": domain,
                         "owners": [{"name": f"team-{pid}"}],
                         "classification": "restricted" if number % 5 == 4 else "internal",
                         "outputPorts": [{"name": f"port{p}", "dataset": {"namespace": ns, "name": name}}
                                         for p, (ns, name) in enumerate(chunk)],
                         "internalDatasets": internal})

started = time.monotonic()
for mutation, documents in (("applyDomain", domains), ("applyProduct", products)):
    query = f"mutation($d: String!) {{ {mutation}(descriptor: $d) {{ id }} }}"
    for document in documents:
        body = json.dumps({"query": query, "variables": {"d": json.dumps(document)}}).encode()
        request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=600).read())
        if answer.get("errors"):
            raise SystemExit(f"apply_mesh: {mutation} failed: {answer['errors']}")
n_ports = sum(len(p["outputPorts"]) for p in products)
n_internal = sum(len(p["internalDatasets"]) for p in products)
print(f"applied {len(domains)} domains, {len(products)} products ({n_ports} ports, {n_internal} internal datasets) "
      f"in {time.monotonic() - started:.1f} s")
