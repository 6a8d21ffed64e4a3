import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser'

/**
 * Stands in for the arguments of a client event that came with binary attachments: the event
 * router answers it with INVALID_PAYLOAD (see event-router.ts). Compared by identity.
 */
export const BINARY_REFUSED: unique symbol = Symbol('binary attachments refused')

/** Socket.IO's own limit on attachments per packet (socket.io-parser's `maxAttachments`). */
const MAX_ATTACHMENTS = 10

export interface JsonOnlyParserOptions {
  /** Attachment bytes one refused packet may announce and send in all; past it the connection closes. */
  maxMessageBytes: number
}

/**
 * Socket.IO's encoder, which can be handed an event's data already as JSON: the recovery log makes
 * that text for itself, and Socket.IO would make it again for the wire (3.6 µs for a 3.6 KB SDP),
 * after walking the data for binary that no event the server sends carries.
 */
export class JsonReusingEncoder extends Encoder {
  private pendingPacket: Packet | undefined
  private pendingJson = ''

  /**
   * The next `encode` of `packet`, an event without an ack id and without binary, takes `json` as
   * its data's text; `drop` forgets it, for when none came. Nothing here checks for binary: every
   * event the server sends is made of client JSON and its own plain values (announce.ts).
   */
  reuse(packet: Packet, json: string): void {
    this.pendingPacket = packet
    this.pendingJson = json
  }

  drop(): void {
    this.pendingPacket = undefined
    this.pendingJson = ''
  }

  override encode(packet: Packet): ReturnType<Encoder['encode']> {
    if (packet !== this.pendingPacket) return super.encode(packet)
    const json = this.pendingJson
    this.drop()
    // encodeAsString's text for an event with no id: its type, its namespace unless the main one, its data.
    return [packet.nsp !== undefined && packet.nsp !== '/' ? `${PacketType.EVENT}${packet.nsp},${json}` : `${PacketType.EVENT}${json}`]
  }
}

/**
 * Socket.IO's packet parser, except that no client packet may carry binary. WebRTC signals are
 * JSON (SDP strings, candidates), and the seed's clients never send binary; walking or keeping a
 * Buffer costs in its size (a 64 KB one took 5 ms to walk and pinned a whole socket read in the
 * recovery log). So a binary event is decided at its header, in O(1) of its attachments: it is
 * handed on as `[event, BINARY_REFUSED]` with its ack id, and its attachments, as they arrive, are
 * counted and dropped, never kept: a packet that never completes holds nothing.
 */
export function createJsonOnlyParser({ maxMessageBytes }: JsonOnlyParserOptions): { Encoder: typeof Encoder; Decoder: new () => unknown } {
  /**
   * Reads a refused packet's header as the plain packet it would be. One for the process, not one a
   * socket: a plain packet is decoded whole within one `add`, so it holds nothing between calls.
   */
  const headerReader = new Decoder()
  let header: Packet | undefined
  headerReader.on('decoded', (packet: Packet) => (header = packet))

  /**
   * socket.io-parser's Decoder, Socket.IO's Client listening on it as usual, but for binary packets.
   * A subclass, not a wrapper around one: every connection has a decoder, and a wrapper cost it a
   * second emitter, a listener and its closure (docs/performance.md, eighth session).
   */
  class JsonOnlyDecoder extends Decoder {
    /** Attachments of a refused packet still to come, and the bytes they came with so far. */
    private attachmentsDue = 0
    private attachmentBytes = 0

    /** Socket.IO's Client calls this with each frame; a throw closes that connection. */
    override add(frame: unknown): void {
      if (typeof frame === 'string') {
        if (this.attachmentsDue > 0) throw new Error('got plaintext data when reconstructing a packet')
        const type = (frame.charCodeAt(0) - 48) as PacketType
        if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) this.refuse(frame, type)
        else super.add(frame)
        return
      }
      if (this.attachmentsDue === 0) throw new Error('got binary data when not reconstructing a packet')
      this.attachmentBytes += ArrayBuffer.isView(frame) || frame instanceof ArrayBuffer ? frame.byteLength : maxMessageBytes + 1
      if (this.attachmentBytes > maxMessageBytes) throw new Error('binary attachments over the message limit')
      this.attachmentsDue--
    }

    override destroy(): void {
      super.destroy()
      this.attachmentsDue = 0
    }

    /** `5<n>-[…]` (or `6<n>-`): read as the plain packet it would be, without its attachments. */
    private refuse(frame: string, type: PacketType): void {
      const dash = frame.indexOf('-')
      const count = dash > 1 && dash <= 3 ? Number(frame.slice(1, dash)) : NaN
      if (!Number.isInteger(count) || count < 1 || count > MAX_ATTACHMENTS) throw new Error('Illegal attachments')
      try {
        headerReader.add(String(type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK) + frame.slice(dash + 1))
      } finally {
        headerReader.destroy()
      }
      const packet = header
      header = undefined
      this.attachmentsDue = count
      this.attachmentBytes = 0
      // An ack with binary answers nothing the server asked: nothing to hand on.
      if (packet === undefined || type === PacketType.BINARY_ACK) return
      const event: unknown = Array.isArray(packet.data) ? packet.data[0] : undefined
      this.emitReserved('decoded', { type: PacketType.EVENT, nsp: packet.nsp, id: packet.id, data: [event, BINARY_REFUSED] })
    }
  }
  return { Encoder: JsonReusingEncoder, Decoder: JsonOnlyDecoder }
}
