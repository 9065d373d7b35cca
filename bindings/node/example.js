// bindings/node/example.js — the Node.js sketch (relink.js) against a running relinkd: alice and bob log in, alice
// sends bob a peer message, bob prints it, both close. Tokens are minted here with node:crypto in relink's token
// format (docs/tokens.md).
//   node example.js URL CA_PEM APP SECRET
'use strict';

const crypto = require('node:crypto');
const relink = require('./relink.js');

const [url, caFile, app, secret] = process.argv.slice(2);

function mint(userId) {
    const claims = Buffer.from(JSON.stringify({ app, user: userId, exp: Math.floor(Date.now() / 1000) + 3600 }));
    const signed = 'rl1.' + claims.toString('base64url');
    return signed + '.' + crypto.createHmac('sha256', secret).update(signed).digest('base64url');
}

async function until(client, predicate, what) {
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
        const event = await client.nextEvent(500);
        if (event) console.log(`${client.name}:`, JSON.stringify(event, (k, v) => (k === 'payload' ? undefined : v)));
        if (event && predicate(event)) return event;
    }
    throw new Error(`${client.name}: no ${what} within 10 s`);
}

async function main() {
    console.log('librelink', relink.version());
    const alice = new relink.Client({ url, appId: app, userId: 'alice', token: mint('alice'), caFile });
    const bob = new relink.Client({ url, appId: app, userId: 'bob', token: mint('bob'), caFile });
    alice.name = 'alice';
    bob.name = 'bob';
    const connected = (e) => e.type === 'connection_state_changed' && e.state === 'CONNECTED';
    alice.login();
    bob.login();
    await until(alice, connected, 'CONNECTED');
    await until(bob, connected, 'CONNECTED');
    const op = alice.sendPeerMessage('bob', 'hello from node');
    const message = await until(bob, (e) => e.type === 'message', 'message');
    console.log('bob got:', message.payload.toString('utf8'), 'from', message.from);
    await until(alice, (e) => e.type === 'operation_completed' && e.op === op, 'completion');
    await alice.close();
    await bob.close();
    console.log('done');
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
