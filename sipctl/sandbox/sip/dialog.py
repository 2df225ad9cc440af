"""The UAC side of an INVITE dialog (RFC 3261 §12): state from the 2xx, in-dialog requests.

* route set = the 2xx's Record-Route entries **reversed**; remote target = its Contact;
* requests go to the remote target with the route set as Route headers (loose routing,
  ``;lr``), or, for a strict-routing first hop, R-URI = first route (§12.2.1.1);
* ACK for the 2xx keeps the INVITE's CSeq number; other requests increment it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipctl.sandbox.sip.message import (
    Address,
    Headers,
    Request,
    Response,
    SipParseError,
    SipURI,
    Via,
)


class DialogError(SipParseError):
    """A 2xx that cannot establish a dialog (no To tag, bad Contact, ...)."""


@dataclass
class Dialog:
    call_id: str
    local: Address  # our From, with our tag
    remote: Address  # their To, with their tag
    remote_target: SipURI
    route_set: list[Address] = field(default_factory=list)
    invite_cseq: int = 1
    local_cseq: int = 1

    @property
    def local_tag(self) -> str:
        return self.local.tag or ""

    @property
    def remote_tag(self) -> str:
        return self.remote.tag or ""

    @classmethod
    def from_2xx(cls, invite: Request, resp: Response, *, lenient: bool = False) -> Dialog:
        """``lenient``: accept a 2xx without To tag (only to hang it up)."""
        to = resp.to
        if not to.tag and not lenient:
            raise DialogError("no tag in To header in INVITE response")
        contact = resp.contact
        if contact is None:
            raise DialogError("no Contact header in INVITE response")
        routes = [Address.parse(v) for v in resp.headers.get_all("Record-Route")]
        routes.reverse()
        cseq = invite.cseq.number
        return cls(
            call_id=invite.call_id,
            local=invite.from_,
            remote=to,
            remote_target=contact.uri,
            route_set=routes,
            invite_cseq=cseq,
            local_cseq=cseq,
        )

    def next_hop(self) -> SipURI:
        """Where in-dialog requests are sent (RFC 3261 §8.1.2 with §12.2.1.1)."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    def _uri_and_routes(self) -> tuple[SipURI, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if "lr" in first.uri.params:
            return self.remote_target, [str(r) for r in self.route_set]
        # strict router: it becomes the R-URI, the remote target the last Route
        uri = SipURI.parse(str(first.uri))
        uri.params = {k: v for k, v in uri.params.items() if k not in ("method", "maddr", "ttl")}
        routes = [str(r) for r in self.route_set[1:]] + [f"<{self.remote_target}>"]
        return uri, routes

    def _request(self, method: str, via: Via, cseq: int, extra: Headers | None) -> Request:
        uri, routes = self._uri_and_routes()
        h = Headers()
        h.add("Via", str(via))
        for route in routes:
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", str(self.local))
        h.add("To", str(self.remote))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        for name, value in extra or Headers():
            h.add(name, value)
        return Request(headers=h, method=method, uri=uri)

    def ack(self, via: Via) -> Request:
        """ACK for the 2xx: a new transaction branch, the INVITE's CSeq number."""
        return self._request("ACK", via, self.invite_cseq, None)

    def request(self, method: str, via: Via, extra: Headers | None = None) -> Request:
        """BYE, INFO, ...: next local CSeq."""
        self.local_cseq += 1
        return self._request(method, via, self.local_cseq, extra)

    def matches(self, req: Request) -> bool:
        """An in-dialog request from the far end: their tag in From, ours in To."""
        try:
            return (
                req.call_id == self.call_id
                and (req.from_.tag or "") == self.remote_tag
                and (req.to.tag or "") == self.local_tag
            )
        except SipParseError:
            return False
