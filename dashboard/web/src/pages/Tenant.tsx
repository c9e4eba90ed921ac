import { useQuery } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { Card, EmptyState, ErrorState, SkeletonRows, formatDate } from '../components/States'
import { useMe } from '../me'
import { keys } from '../query'
import { useSession } from '../session'

const PAGE_SIZES = [10, 25, 50]

export function TenantPage() {
  const { state } = useMe()
  useEffect(() => {
    document.title = 'Tenant · Connected BBQ'
  }, [])
  if (state.kind !== 'ready') {
    return <SkeletonRows rows={4} label="Loading…" />
  }
  if (state.profile.role !== 'admin') {
    return (
      <div className="space-y-6">
        <h1 className="text-2xl font-bold tracking-tight">Tenant</h1>
        <EmptyState title="Only tenant admins can see this page">Ask an admin of your tenant if you need the member list.</EmptyState>
      </div>
    )
  }
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold tracking-tight">Tenant</h1>
      <TenantDetails />
      <Members />
    </div>
  )
}

function TenantDetails() {
  const { api } = useSession()
  const tenant = useQuery({ queryKey: keys.tenant, queryFn: () => api.tenant() })
  if (tenant.isPending || (tenant.isError && tenant.isFetching)) return <SkeletonRows rows={2} label="Loading tenant…" />
  if (tenant.isError)
    return <ErrorState title="We could not load your tenant" message={tenant.error.message} onRetry={() => void tenant.refetch()} />
  return (
    <Card title={tenant.data.displayName || 'Your tenant'} description="The workspace your account belongs to.">
      <dl className="grid gap-4 sm:grid-cols-2">
        <div>
          <dt className="text-sm font-medium text-stone-600">Tenant ID</dt>
          <dd className="mt-1 break-all font-mono text-sm">{tenant.data.id}</dd>
        </div>
        <div>
          <dt className="text-sm font-medium text-stone-600">Members</dt>
          <dd className="mt-1">{tenant.data.members}</dd>
        </div>
      </dl>
    </Card>
  )
}

function Members() {
  const { api } = useSession()
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0])
  // tokens[i] is the token of page i; page 0 has none. Going back pops, so paging works with opaque tokens.
  const [tokens, setTokens] = useState<string[]>([''])
  const page = tokens.length - 1
  const token = tokens[page]
  const members = useQuery({ queryKey: keys.members(pageSize, token), queryFn: () => api.members(pageSize, token) })
  // A page shows while it is fetched again (going back); a failed one shows the error until a retry succeeds.
  const loading = members.isPending || (members.isError && members.isFetching)
  const data = members.isSuccess ? members.data : undefined
  const nextPageToken = data?.nextPageToken ?? ''

  const sizeSelect = (
    <label className="flex items-center gap-2 text-sm text-stone-700">
      Per page
      <select
        value={pageSize}
        onChange={(e) => {
          setPageSize(Number(e.target.value))
          setTokens([''])
        }}
        className="rounded-lg border border-stone-300 bg-white px-2 py-1"
      >
        {PAGE_SIZES.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  )

  return (
    <Card title="Members" description="Everyone in your tenant." actions={sizeSelect}>
      {loading && <SkeletonRows rows={4} label="Loading members…" />}
      {!loading && members.isError && (
        <ErrorState title="We could not load the members" message={members.error.message} onRetry={() => void members.refetch()} />
      )}
      {data && data.members.length === 0 && <EmptyState title="No members yet">Members appear here when they join your tenant.</EmptyState>}
      {data && data.members.length > 0 && (
        <div className="-mx-5 overflow-x-auto sm:mx-0">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Tenant members, page {page + 1}</caption>
            <thead className="border-b border-stone-200 text-stone-600">
              <tr>
                {['Name', 'Email', 'Role'].map((h) => (
                  <th key={h} scope="col" className="px-5 py-2 font-medium sm:px-3">
                    {h}
                  </th>
                ))}
                <th scope="col" className="hidden px-5 py-2 font-medium sm:table-cell sm:px-3">
                  Joined
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-stone-100">
              {data.members.map((m) => (
                <tr key={m.userId || m.email}>
                  <td className="px-5 py-2.5 sm:px-3">{m.name || '—'}</td>
                  <td className="break-all px-5 py-2.5 sm:px-3">{m.email}</td>
                  <td className="px-5 py-2.5 capitalize sm:px-3">{m.role ?? 'member'}</td>
                  <td className="hidden px-5 py-2.5 sm:table-cell sm:px-3">{formatDate(m.memberSince)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav aria-label="Members pages" className="mt-4 flex items-center justify-between gap-3">
        <button
          type="button"
          disabled={page === 0 || loading}
          onClick={() => setTokens((t) => t.slice(0, -1))}
          className="rounded-lg px-3 py-2 text-sm font-medium ring-1 ring-stone-300 hover:bg-stone-100 disabled:cursor-not-allowed disabled:opacity-50"
        >
          Previous
        </button>
        <span className="text-sm text-stone-600">Page {page + 1}</span>
        <button
          type="button"
          disabled={!nextPageToken}
          onClick={() => setTokens((t) => [...t, nextPageToken])}
          className="rounded-lg px-3 py-2 text-sm font-medium ring-1 ring-stone-300 hover:bg-stone-100 disabled:cursor-not-allowed disabled:opacity-50"
        >
          Next
        </button>
      </nav>
    </Card>
  )
}
