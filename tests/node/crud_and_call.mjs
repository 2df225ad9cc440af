// The Node server SDK (livekit-server-sdk 2.19) against the sandbox: trunk and rule CRUD,
// then a waited call through the provider (Kamailio + SIPp). Run by
// tests/sandbox/test_node_sdk.py with LIVEKIT_URL/_API_KEY/_API_SECRET, PROVIDER_ADDRESS,
// PROVIDER_USER, PROVIDER_PASS and CALL_TO set; prints one JSON object with what it saw.
import { RoomServiceClient, SipClient } from 'livekit-server-sdk';

const env = process.env;
const url = env.LIVEKIT_URL;
const sip = new SipClient(url, env.LIVEKIT_API_KEY, env.LIVEKIT_API_SECRET);
const rooms = new RoomServiceClient(url, env.LIVEKIT_API_KEY, env.LIVEKIT_API_SECRET);
const out = {};

const outbound = await sip.createSipOutboundTrunk('node-out', env.PROVIDER_ADDRESS, ['+15557770000'], {
  authUsername: env.PROVIDER_USER,
  authPassword: env.PROVIDER_PASS,
  metadata: 'from node',
  headers: { 'X-Lk-Test-Id': 'node-1' },
});
out.outbound = { id: outbound.sipTrunkId, name: outbound.name, transport: outbound.transport };
const updated = await sip.updateSipOutboundTrunkFields(outbound.sipTrunkId, { name: 'node-out-2' });
out.updatedName = updated.name;

const inbound = await sip.createSipInboundTrunk('node-in', ['+15550700009'], {
  allowedAddresses: ['127.0.0.1/32'],
  krispEnabled: true,
});
out.inbound = { id: inbound.sipTrunkId, numbers: inbound.numbers, addresses: inbound.allowedAddresses };

const rule = await sip.createSipDispatchRule(
  { type: 'individual', roomPrefix: 'node' },
  { name: 'node-rule', trunkIds: [inbound.sipTrunkId], attributes: { team: 'node' } },
);
out.rule = { id: rule.sipDispatchRuleId, name: rule.name, trunkIds: rule.trunkIds };

out.listedOutbound = (await sip.listSipOutboundTrunk()).map((t) => t.sipTrunkId);
out.listedInbound = (await sip.listSipInboundTrunk()).map((t) => t.sipTrunkId);
out.listedRules = (await sip.listSipDispatchRule()).map((r) => r.sipDispatchRuleId);

const info = await sip.createSipParticipant(outbound.sipTrunkId, env.CALL_TO, 'node-room', {
  participantIdentity: 'node-callee',
  waitUntilAnswered: true,
  ringingTimeout: 5,
});
out.call = { callId: info.sipCallId, identity: info.participantIdentity, room: info.roomName };
const people = await rooms.listParticipants('node-room');
out.participants = people.map((p) => ({ identity: p.identity, status: p.attributes['sip.callStatus'] }));
await rooms.removeParticipant('node-room', 'node-callee');

try {
  await sip.createSipParticipant(outbound.sipTrunkId, '+15550200001', 'node-room', {
    waitUntilAnswered: true,
  });
  out.busy = 'no error';
} catch (e) {
  out.busy = { status: e.status, code: e.code, message: e.message, sipStatusCode: e.metadata?.sip_status_code };
}

await sip.deleteSipDispatchRule(rule.sipDispatchRuleId);
await sip.deleteSipTrunk(inbound.sipTrunkId);
await sip.deleteSipTrunk(outbound.sipTrunkId);
out.afterDelete = {
  outbound: (await sip.listSipOutboundTrunk()).length,
  inbound: (await sip.listSipInboundTrunk()).length,
  rules: (await sip.listSipDispatchRule()).length,
};
console.log(JSON.stringify(out));
