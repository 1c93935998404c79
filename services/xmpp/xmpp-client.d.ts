// Types for the parts of @xmpp/client 0.14 bitween uses (the package ships none).
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export type XmlChild = Element | string | number | undefined | null | false;

  export class Element {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (Element | string)[];
    parent: Element | null;
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    is(name: string, xmlns?: string): boolean;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    text(): string;
    append(...children: XmlChild[]): Element;
    toString(): string;
  }

  export interface XmlFactory {
    (name: string, attrs?: Record<string, string | number | undefined> | null, ...children: XmlChild[]): Element;
    Element: typeof Element;
    Parser: new () => EventEmitter & { write(data: string): void; end(data?: string): void };
  }
  export const xml: XmlFactory;

  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
    equals(other: JID): boolean;
  }
  export function jid(address: string): JID;
  export function jid(local: string, domain: string, resource?: string): JID;

  export interface IqContext {
    stanza: Element;
    element: Element;
    from: string;
    to: string;
    id: string;
  }

  export interface Client extends EventEmitter {
    jid: JID | null;
    status: string;
    socket: (Socket & { secure?: boolean }) | null;
    options: { service?: string; domain?: string; resource?: string };
    timeout: number;
    start(): Promise<JID>;
    stop(): Promise<Element | undefined>;
    disconnect(): Promise<Element | undefined>;
    send(element: Element): Promise<void>;
    isSecure(): boolean;
    reconnect: EventEmitter & { delay: number; start(): void; stop(): void };
    iqCaller: {
      request(stanza: Element, timeout?: number): Promise<Element>;
      get(element: Element, to?: string, timeout?: number): Promise<Element | undefined>;
      set(element: Element, to?: string, timeout?: number): Promise<Element | undefined>;
    };
    iqCallee: {
      get(ns: string, name: string, handler: (ctx: IqContext) => unknown): void;
      set(ns: string, name: string, handler: (ctx: IqContext) => unknown): void;
    };
  }

  export type Authenticate = (credentials: { username: string; password: string }, mechanism: string) => Promise<void>;

  export interface ClientOptions {
    service?: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    timeout?: number;
    credentials?: (authenticate: Authenticate, mechanisms: string[], fast: unknown, entity: Client) => Promise<void>;
  }

  export function client(options: ClientOptions): Client;
}
