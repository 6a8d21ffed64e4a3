/**
 * The packet parser that refuses binary: a binary event is decided at its header, and its
 * attachments are counted and dropped, never kept, however many arrive and however long the last
 * one takes.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { Encoder, PacketType, type Packet } from 'socket.io-parser'
import { BINARY_REFUSED, createJsonOnlyParser, JsonReusingEncoder } from '../src/events/json-only-parser.js'

interface TestDecoder {
  add(frame: unknown): void
  on(event: 'decoded', listener: (packet: { type: number; id?: number; data?: unknown[] }) => void): void
}

function decoder(maxMessageBytes = 1 << 20): { decoder: TestDecoder; decoded: Array<{ type: number; id?: number; data?: unknown[] }> } {
  const { Decoder } = createJsonOnlyParser({ maxMessageBytes })
  const instance = new Decoder() as TestDecoder
  const decoded: Array<{ type: number; id?: number; data?: unknown[] }> = []
  instance.on('decoded', (packet) => decoded.push(packet))
  return { decoder: instance, decoded }
}

/** Buffers still referenced after full collections, in bytes. */
function retainedArrayBuffers(): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return process.memoryUsage().arrayBuffers
}

t.test('text packets decode as Socket.IO decodes them', async (t) => {
  const { decoder: d, decoded } = decoder()
  d.add('0{"token":"x"}')
  d.add('2["signal",{"to":"a","signal":{"sdp":"v=0"}}]')
  d.add('21["user-list"]')
  t.same(decoded, [
    { type: 0, nsp: '/', data: { token: 'x' } },
    { type: 2, nsp: '/', data: ['signal', { to: 'a', signal: { sdp: 'v=0' } }] },
    { type: 2, nsp: '/', id: 1, data: ['user-list'] }
  ])
  t.throws(() => d.add('2{"not":"an array"}'), 'malformed packets still throw (Socket.IO closes the connection)')
})

t.test('the encoder takes the JSON it is handed for one packet, as Socket.IO would write it, and only for that one', async (t) => {
  const { Encoder: ParserEncoder } = createJsonOnlyParser({ maxMessageBytes: 1024 })
  t.equal(ParserEncoder, JsonReusingEncoder, 'the parser Socket.IO is given encodes with it')
  const reusing = new JsonReusingEncoder()
  const plain = new Encoder()
  const data = ['signal', { from: 'bob', signal: { sdp: 'v=0\r\n"quoted"' } }, 'offset1']
  for (const nsp of ['/', '/calls']) {
    const packet: Packet = { type: PacketType.EVENT, nsp, data }
    reusing.reuse(packet, JSON.stringify(data))
    t.same(reusing.encode(packet), plain.encode(packet), `the same text in namespace ${nsp}`)
  }
  const handed: Packet = { type: PacketType.EVENT, nsp: '/', data: ['made', 'here'] }
  reusing.reuse(handed, '["handed","text"]')
  t.same(reusing.encode(handed), ['2["handed","text"]'], 'the text handed, not the data')
  t.same(reusing.encode(handed), ['2["made","here"]'], 'once: a second encode of it makes its own')
  const other: Packet = { type: PacketType.EVENT, nsp: '/', data: ['other'] }
  reusing.reuse(handed, '["handed"]')
  t.same(reusing.encode(other), ['2["other"]'], 'another packet is encoded from its data')
  reusing.drop()
  t.same(reusing.encode(handed), ['2["made","here"]'], 'and after drop nothing is reused')
  const ack: Packet = { type: PacketType.ACK, nsp: '/', id: 7, data: [{ ok: true }] }
  t.same(reusing.encode(ack), plain.encode(ack), 'acks as Socket.IO encodes them')
})

t.test('a binary event is handed on at its header as refused, with its ack id and name', async (t) => {
  const { decoder: d, decoded } = decoder()
  d.add('52-7["signal",{"to":"a","signal":{"_placeholder":true,"num":0},"x":{"_placeholder":true,"num":1}}]')
  t.same(decoded, [{ type: 2, nsp: '/', id: 7, data: ['signal', BINARY_REFUSED] }], 'at once, before any attachment')
  d.add(Buffer.alloc(10))
  d.add(Buffer.alloc(10))
  d.add('2["user-list"]')
  t.equal(decoded.length, 2, 'its attachments are swallowed; the next packet decodes')
  t.throws(() => d.add(Buffer.alloc(1)), 'an attachment nobody announced')
})

t.test('a binary ack is swallowed whole: it answers nothing the server asked', async (t) => {
  const { decoder: d, decoded } = decoder()
  d.add('61-3[{"_placeholder":true,"num":0}]')
  d.add(Buffer.alloc(10))
  t.same(decoded, [])
})

t.test('bad announcements, text amid attachments, and attachments past the limit throw', async (t) => {
  for (const header of ['5-["x"]', '50-["x"]', '511-["x"]', '5x-["x"]']) t.throws(() => decoder().decoder.add(header), header)
  const amid = decoder().decoder
  amid.add('52-["x",{"_placeholder":true,"num":0}]')
  amid.add(Buffer.alloc(1))
  t.throws(() => amid.add('2["y"]'), 'text before the last attachment')
  const big = decoder(1000).decoder
  big.add('52-["x",{"_placeholder":true,"num":0}]')
  big.add(Buffer.alloc(600))
  t.throws(() => big.add(Buffer.alloc(600)), 'the attachments of one message past the message limit')
})

t.test('unfinished binary packets hold no memory however many they are', async (t) => {
  // What Socket.IO's own parser holds until the last attachment arrives: 200 × 9 × 100 KB = 180 MB.
  const before = retainedArrayBuffers()
  const decoders = Array.from({ length: 200 }, () => {
    const { decoder: d } = decoder(2 << 20)
    d.add('510-["signal",{"to":"x","signal":[' + Array.from({ length: 10 }, (_, num) => `{"_placeholder":true,"num":${num}}`).join(',') + ']}]')
    for (let i = 0; i < 9; i++) d.add(Buffer.alloc(100_000, i))
    return d
  })
  const held = retainedArrayBuffers() - before
  t.ok(held < 4 << 20, `${(held / 1048576).toFixed(1)} MB held by 200 packets each 9 attachments short of complete`)
  t.equal(decoders.length, 200)
})
