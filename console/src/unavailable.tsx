// Views whose routes come with a later server version (funnels, retention): the console asks the
// server whether it has the route and says plainly when it does not.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from './api.js';

export function Unavailable({ what, path }: { what: string; path: string }) {
  const [state, setState] = useState<'checking' | 'missing' | 'present'>('checking');
  useEffect(() => {
    setState('checking');
    api(path)
      .then(() => setState('present'))
      .catch((e: ApiError) => setState(e.routeMissing ? 'missing' : 'present'));
  }, [path]);
  return (
    <section class="view" aria-labelledby="na-title">
      <h1 id="na-title">{what}</h1>
      <p class="empty" data-testid="availability">
        {state === 'checking'
          ? 'Checking…'
          : state === 'missing'
            ? `${what}: not available on this server (it has no /${path} route).`
            : `This server has /${path}, but this console version cannot show it yet.`}
      </p>
    </section>
  );
}
