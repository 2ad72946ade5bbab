#!/usr/bin/env node
// Interop check: drive a running izport with the npm `soap` package (node-soap),
// a SOAP client written by nobody on this project, at the version pinned in
// package.json / package-lock.json.
//
// The WSDL is fetched from the server (GET /soap?wsdl) and used as node-soap
// reads it. node-soap chooses the SOAP version per client, not per port
// (option forceSoap12Headers), so the checks run twice: a SOAP 1.2 client
// calling through port client_Port_Soap12 and a SOAP 1.1 client calling through
// client_Port_Soap11. On each:
//
//   1. connectivityTest echoes the text it is sent;
//   2. submitSingleMessage with good credentials returns an HL7 ACK accepting
//      the VXU (MSA|AA|<MSH-10 of the VXU>);
//   3. submitSingleMessage with a wrong password fails with a SOAP fault whose
//      detail holds {urn:cdc:iisb:2011}SecurityFault with Code 10.
//
// and, on SOAP 1.2, one more: WS-Addressing headers added to the request
// (wsa:Action, wsa:MessageID, wsa:To) come back as wsa:RelatesTo and the
// operation's response action in the reply's header.
//
// One line per check; the last line counts them; exit status 1 if any failed.
//
// Usage:
//   node soap_check.js --wsdl-url http://127.0.0.1:PORT/soap?wsdl \
//       --username U --password P --facility F --vxu FILE

'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const soap = require('soap');

const CDC_NS = 'urn:cdc:iisb:2011';
const WSA_NS = 'http://www.w3.org/2005/08/addressing';
const SERVICE = 'client_Service';
const ENVELOPE_NS = {
  client_Port_Soap12: 'http://www.w3.org/2003/05/soap-envelope',
  client_Port_Soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
};
const ECHO_TEXT = 'hello from node soap';

class CheckFailed extends Error {}

function shorten(value, limit = 300) {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value ?? null);
  return text.length <= limit ? text : `${text.slice(0, limit)}...`;
}

// The VXU in the file, segments joined with CR whatever the file used.
function readVxu(path) {
  const text = fs.readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  const segments = text.split(/\r\n|\r|\n/).filter((s) => s.trim() !== '');
  if (segments.length === 0 || !segments[0].startsWith('MSH')) {
    throw new CheckFailed(`${path} does not start with an MSH segment`);
  }
  return segments.join('\r');
}

// MSH-10 (message control ID) of an HL7 v2 message.
function msh10(message) {
  const msh = message.split('\r', 1)[0];
  if (msh.length < 4) {
    throw new CheckFailed('the MSH segment is too short to hold MSH-10');
  }
  const fields = msh.split(msh[3]);
  // fields[0] is "MSH" and fields[1] is MSH-2, so MSH-n is fields[n - 1].
  if (fields.length < 10 || !fields[9]) {
    throw new CheckFailed('the VXU has no MSH-10 (message control ID)');
  }
  return fields[9];
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Calls one operation through one port of the client: resolves with
// { result, header } (the reply's SOAP header as node-soap parsed it), rejects
// with node-soap's error.
function call(client, port, operation, args) {
  const method = client[SERVICE]?.[port]?.[operation];
  if (typeof method !== 'function') {
    return Promise.reject(new CheckFailed(`the WSDL gives no ${SERVICE}/${port}/${operation}`));
  }
  return new Promise((resolve, reject) => {
    method(args, (err, result, _raw, header) => {
      if (err) {
        reject(err);
      } else {
        resolve({ result, header });
      }
    });
  });
}

// The text of a result object: node-soap returns { return: '...' }.
function returnText(result) {
  const value = result && result.return;
  if (typeof value === 'string') {
    return value;
  }
  if (value && typeof value.$value === 'string') {
    return value.$value;
  }
  throw new CheckFailed(`expected a 'return' string, got ${shorten(result)}`);
}

async function checkConnectivity(client, port) {
  const { result } = await call(client, port, 'connectivityTest', { echoBack: ECHO_TEXT });
  const text = returnText(result);
  if (!text.includes(ECHO_TEXT)) {
    throw new CheckFailed(`the return does not contain ${JSON.stringify(ECHO_TEXT)}: ${shorten(text)}`);
  }
  // The SOAP version this client speaks, both ways.
  const ns = ENVELOPE_NS[port];
  for (const [which, xml] of [['request', client.lastRequest], ['reply', client.lastResponse]]) {
    if (typeof xml !== 'string' || !xml.includes(ns)) {
      throw new CheckFailed(`the ${which} envelope is not in ${ns}: ${shorten(xml)}`);
    }
  }
  return `return contains ${JSON.stringify(ECHO_TEXT)}, envelopes in ${ns}`;
}

async function checkSubmit(client, port, args, vxu) {
  const controlId = msh10(vxu);
  const { result } = await call(client, port, 'submitSingleMessage', {
    username: args.username,
    password: args.password,
    facilityID: args.facility,
    hl7Message: vxu,
  });
  const text = returnText(result);
  if (!text.startsWith('MSH|')) {
    throw new CheckFailed(`the return does not start with 'MSH|': ${shorten(text)}`);
  }
  const pattern = new RegExp(`MSA\\|AA\\|${escapeRegExp(controlId)}(?:[|\r\n]|$)`);
  if (!pattern.test(text)) {
    throw new CheckFailed(`the return has no 'MSA|AA|${controlId}' segment: ${shorten(text)}`);
  }
  return `ACK accepts message ${controlId}`;
}

// The SecurityFault element of a fault node-soap parsed (err.root), in either
// SOAP version: SOAP 1.1 puts it under <detail>, SOAP 1.2 under <Detail>.
function securityFaultOf(root) {
  const fault = root?.Envelope?.Body?.Fault;
  if (!fault) {
    return { fault: undefined, security: undefined };
  }
  const detail = fault.detail ?? fault.Detail;
  return { fault, security: detail?.SecurityFault };
}

function faultReason(fault) {
  const reason11 = fault.faultstring?.$value ?? fault.faultstring;
  const reason12 = fault.Reason?.Text?.$value ?? fault.Reason?.Text;
  return reason11 ?? reason12;
}

async function checkSecurityFault(client, port, args, vxu) {
  let outcome;
  try {
    outcome = await call(client, port, 'submitSingleMessage', {
      username: args.username,
      password: `${args.password}-not-the-password`,
      facilityID: args.facility,
      hl7Message: vxu,
    });
  } catch (err) {
    if (err instanceof CheckFailed) {
      throw err;
    }
    const status = err.response?.status;
    const { fault, security } = securityFaultOf(err.root);
    if (!fault) {
      throw new CheckFailed(`expected a SOAP fault, got ${err.name}: ${err.message} (HTTP ${status})`);
    }
    if (!security) {
      throw new CheckFailed(`the fault detail holds no SecurityFault: ${shorten(fault)}`);
    }
    const code = String(security.Code?.$value ?? security.Code ?? '').trim();
    if (code !== '10') {
      throw new CheckFailed(`SecurityFault Code is ${shorten(security.Code)}, expected '10'`);
    }
    const detailText = security.Detail?.$value ?? security.Detail;
    return `HTTP ${status}, SecurityFault code 10 (reason: ${JSON.stringify(faultReason(fault))}, detail: ${JSON.stringify(detailText)})`;
  }
  throw new CheckFailed(
    `expected a SecurityFault for a wrong password, got a normal return: ${shorten(outcome.result)}`,
  );
}

// WS-Addressing by hand: node-soap has no addressing feature, but it sends
// any SOAP header it is given and returns the reply's header parsed.
async function checkAddressing(wsdlUrl, address) {
  const client = await soap.createClientAsync(wsdlUrl, { forceSoap12Headers: true, disableCache: true });
  const messageId = `urn:uuid:${crypto.randomUUID()}`;
  const action = `${CDC_NS}:connectivityTest`;
  client.addSoapHeader(
    `<wsa:Action xmlns:wsa="${WSA_NS}">${action}</wsa:Action>` +
      `<wsa:MessageID xmlns:wsa="${WSA_NS}">${messageId}</wsa:MessageID>` +
      `<wsa:To xmlns:wsa="${WSA_NS}">${address}</wsa:To>`,
  );
  const { result, header } = await call(client, 'client_Port_Soap12', 'connectivityTest', {
    echoBack: ECHO_TEXT,
  });
  if (!returnText(result).includes(ECHO_TEXT)) {
    throw new CheckFailed(`the return does not contain ${JSON.stringify(ECHO_TEXT)}`);
  }
  const text = (value) => (typeof value === 'string' ? value : value?.$value);
  const relatesTo = text(header?.RelatesTo);
  const replyAction = text(header?.Action);
  if (relatesTo !== messageId) {
    throw new CheckFailed(`reply RelatesTo is ${shorten(relatesTo)}, expected ${messageId} (header ${shorten(header)})`);
  }
  const want = `${CDC_NS}:connectivityTestResponse`;
  if (replyAction !== want) {
    throw new CheckFailed(`reply Action is ${shorten(replyAction)}, expected ${want}`);
  }
  return `RelatesTo ${messageId} and Action ${want}`;
}

async function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        'wsdl-url': { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        facility: { type: 'string' },
        vxu: { type: 'string' },
      },
      strict: true,
    }));
    for (const name of ['wsdl-url', 'username', 'password', 'facility', 'vxu']) {
      if (!args[name]) {
        throw new Error(`--${name} is required`);
      }
    }
  } catch (err) {
    console.log(`FAIL arguments: ${err.message}`);
    console.log('usage: node soap_check.js --wsdl-url URL --username U --password P --facility F --vxu FILE');
    return 2;
  }
  const wsdlUrl = args['wsdl-url'];

  let vxu;
  try {
    vxu = readVxu(args.vxu);
  } catch (err) {
    console.log(`FAIL read VXU ${args.vxu}: ${err.message}`);
    return 1;
  }

  const clients = [];
  for (const [label, port, options] of [
    // disableCache: node-soap caches a WSDL by URL with the options of the first client that
    // loaded it, so without it both clients would speak the same SOAP version.
    ['SOAP 1.2', 'client_Port_Soap12', { forceSoap12Headers: true, disableCache: true }],
    ['SOAP 1.1', 'client_Port_Soap11', { disableCache: true }],
  ]) {
    try {
      clients.push([label, port, await soap.createClientAsync(wsdlUrl, options)]);
    } catch (err) {
      console.log(`FAIL load WSDL from ${wsdlUrl} (${label}): ${err.name}: ${err.message}`);
      return 1;
    }
  }
  const address = clients[0][2].wsdl.definitions.services[SERVICE]?.ports?.client_Port_Soap12?.location;
  if (!address) {
    console.log(`FAIL the WSDL gives no address for ${SERVICE}/client_Port_Soap12`);
    return 1;
  }
  console.log(`ok   load WSDL from ${wsdlUrl} (node-soap ${require('soap/package.json').version}, node ${process.version}); address ${address}`);

  const checks = [];
  for (const [label, port, client] of clients) {
    checks.push([`${label} connectivityTest`, () => checkConnectivity(client, port)]);
    checks.push([`${label} submitSingleMessage, good credentials`, () => checkSubmit(client, port, args, vxu)]);
    checks.push([`${label} submitSingleMessage, wrong password`, () => checkSecurityFault(client, port, args, vxu)]);
  }
  checks.push(['SOAP 1.2 WS-Addressing reply', () => checkAddressing(wsdlUrl, address)]);

  let failures = 0;
  for (const [name, run] of checks) {
    try {
      console.log(`ok   ${name}: ${await run()}`);
    } catch (err) {
      failures += 1;
      if (err instanceof CheckFailed) {
        console.log(`FAIL ${name}: ${err.message}`);
      } else {
        console.log(`FAIL ${name}: ${err.name}: ${err.message} (HTTP ${err.response?.status})`);
      }
    }
  }
  console.log(`node-soap: ${checks.length - failures} passed, ${failures} failed`);
  return failures ? 1 : 0;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (err) => {
    console.log(`FAIL ${err.name}: ${err.message}`);
    process.exitCode = 1;
  },
);
