"""A kind's stored elements as every host lists them (the WIT's
``element-store`` says the shape; ``tests/conformance/listing-shape.json`` is
the full example): flat objects, ports with their state."""


def listing(kind, current):
    """`current(kind)`: the stored, not removed, rows of a kind in id order,
    each a dict with its `data` (stored form) and `invalid` flag."""
    codes = {r["data"]["id"]: r["data"].get("code") for r in current("client")}

    def code_of(p):
        if p.get("client") is not None and p["client"] in codes:
            return codes[p["client"]]
        return p.get("client_code")

    takers = {}
    if kind == "splitter":
        # In id order: a port two properties name is the smaller id's.
        for r in current("property"):
            p, c = r["data"], r["data"].get("connection")
            if c and (c["splitter"], c["port"]) not in takers:
                takers[(c["splitter"], c["port"])] = {"property": p["id"], "client_code": code_of(p)}
    out = []
    for r in current(kind):
        e = r["data"]
        position = e.get("position") or {}
        lat, lng = position.get("lat"), position.get("lng")
        if kind == "project":
            shown = {"identifier": e.get("identifier"), "lat": lat, "lng": lng}
        elif kind == "pole":
            shown = {"lat": lat, "lng": lng, "pole_type": e.get("pole_type")}
        elif kind == "box":
            shown = {
                "project": e.get("project"), "pole": e.get("pole"), "lat": lat, "lng": lng,
                "hierarchy_level": e.get("hierarchy_level"), "implanted": e.get("implanted"),
                "box_type": e.get("box_type"),
            }
        elif kind == "client":
            shown = {
                "code": e.get("code"), "implanted": e.get("implanted"), "status": e.get("status"),
                "pppoe_login": e.get("pppoe_login"), "onu_serial": e.get("onu_serial"),
                "onu_mac": e.get("onu_mac"),
            }
        elif kind == "splitter":
            ports = []
            for p in e["ports"]:
                t = takers.get((e["id"], p["number"]))
                if t:
                    ports.append({"port": p["number"], "state": "taken", **t})
                else:
                    state = "blocked" if p.get("blocked") else "free"
                    ports.append({"port": p["number"], "state": state, "property": None, "client_code": None})
            shown = {
                "project": e.get("project"), "box": e.get("box"), "service": e.get("service"),
                "ratio": f"{e['ratio_input']}x{e['ratio_output']}", "ports": ports,
            }
        else:
            c = e.get("connection") or {}
            shown = {
                "project": e.get("project"), "box": e.get("box"), "splitter": c.get("splitter"),
                "port": c.get("port"), "client": e.get("client"), "client_code": code_of(e),
                "lat": lat, "lng": lng, "address": e.get("address"),
            }
        out.append({"id": e["id"], "kind": kind, "name": e.get("name"), **shown, "invalid": r["invalid"]})
    return out
