// Drives @mycure/sdk-js against a sandbox: sign in, create, find with operators, finalize,
// delete. Prints one JSON document with what each step returned. Usage: node walk.js BASE_URL
require('regenerator-runtime/runtime'); // the SDK's published build expects it as a global
const { Client } = require('@mycure/sdk-js/lib/client');
const { CRUDClientService } = require('@mycure/sdk-js/lib/utils');
const { AuthenticationService } = require('@mycure/sdk-js/lib/services/authentication/service');

const memory = {};
const storage = {
  getItem: (key) => (key in memory ? memory[key] : null),
  setItem: (key, value) => { memory[key] = value; },
  removeItem: (key) => { delete memory[key]; },
};

async function main (base) {
  const client = new Client({ logger: () => {}, storage });
  client.use('auth', new AuthenticationService());
  client.initialize(base, {});
  const auth = client.service('auth');
  // `unsettables`: fields the SDK turns into `$unset` when patched with null or ''.
  const soas = client.use('billing-soas', new CRUDClientService('billing-soas', { unsettables: ['note'] }));
  const out = {};

  out.user = await auth.signin('local', { email: 'sdk@clinic-sdk.test', password: 'any' });
  out.created = await soas.create({
    facility: '5eb00000000000000000fa01',
    type: 'organization',
    customer: '5eb00000000000000000c001',
    paymentTerms: 30,
    note: '  trimmed by the SDK  ',
    template: '', // the SDK drops empty strings before posting
  });
  out.found = await soas.find(
    { type: { $in: ['organization'] }, finalizedAt: { $exists: false }, paymentTerms: { $gte: 30 } },
    { limit: 2, sort: { createdAt: -1 }, select: ['type', 'paymentTerms'] },
  );
  out.one = await soas.findOne({ finalizedAt: null, note: 'trimmed by the SDK' });
  out.unset = await soas.update(out.created.id, { note: null }, {});
  out.finalized = await soas.update(out.created.id, { finalize: true });
  out.removed = await soas.remove(out.created.id);
  try {
    await soas.get(out.created.id);
    out.afterRemove = 'still there';
  } catch (error) {
    out.afterRemove = { name: error.name, code: error.code, status: error.status };
  }
  out.reSignedIn = await auth.signin('jwt', { accessToken: storage.getItem('mc:jwt') }, false);
  console.log(JSON.stringify(out));
  // Each SDK request races a 5-minute timer that would keep Node alive after the walk.
  process.exit(0);
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
