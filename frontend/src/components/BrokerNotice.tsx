import { useReady } from "../pages/System";

type Checks = Record<string, { ok: boolean; detail: string }>;

/** Whether the readiness says the broker is unreachable: its breaker (`breaker:broker`,
 * there only with a broker such as Alpaca configured) is open. */
export function brokerUnreachable(checks: Checks | undefined): boolean {
  return checks?.["breaker:broker"]?.ok === false;
}

/** What a trader must know while the broker does not answer, in words (the System page's
 * breakers card says the same as `broker open`). */
export function BrokerNotice({ checks }: { checks: Checks | undefined }) {
  if (!brokerUnreachable(checks)) return null;
  return (
    <div role="alert" className="alert error" data-testid="broker-notice">
      <strong>Orders cannot reach the broker:</strong> it has not answered the last requests. New
      orders show <em>submitted</em> while they are tried; one waiting its turn too long (10 s by
      default) is rejected, not sent late. Once the broker answers again, those it got go on as
      usual and those it never got are rejected (“the broker has no such order”).
    </div>
  );
}

/** The notice from the readiness, read again every few seconds (`useReady`). */
export function BrokerStatusNotice() {
  const ready = useReady();
  return <BrokerNotice checks={ready.data?.checks} />;
}
