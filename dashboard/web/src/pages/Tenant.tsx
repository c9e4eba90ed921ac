import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useId, useState, type FormEvent } from 'react'
import type { Invitation, InvitationStatus, MyTenant, Profile } from '../api'
import { ActionError, ConfirmAction, buttonClass, inputClass, primaryClass } from '../components/Actions'
import { Card, EmptyState, ErrorState, Fact, SkeletonRows, formatDate } from '../components/States'
import { useMe } from '../me'
import { keys } from '../query'
import { useSession } from '../session'
import { useTenancy } from '../tenancy'

const PAGE_SIZES = [10, 25, 50]
const ROLES = ['admin', 'member']

export function TenantPage() {
  const { state } = useMe()
  const { api } = useSession()
  const { tenants, current, loadError } = useTenancy()
  useEffect(() => {
    document.title = 'Tenant · Connected BBQ'
  }, [])
  if (loadError) return <ErrorState title="We could not load your tenants" message={loadError.message} />
  // Only once the calls name the active tenant (X-Tenant-ID), so that nothing is asked twice.
  if (state.kind !== 'ready' || !tenants || (tenants.length > 0 && (!current || api.tenantId !== current.id))) {
    return <SkeletonRows rows={4} label="Loading…" />
  }
  if (!current) {
    return (
      <div className="space-y-6">
        <h1 className="text-2xl font-bold tracking-tight">Tenant</h1>
        <EmptyState title="You belong to no tenant right now">Ask an admin to invite you, or sign in again in a moment.</EmptyState>
      </div>
    )
  }
  const isAdmin = current.role === 'admin'
  return (
    <div className="space-y-6" key={current.id}>
      <h1 className="text-2xl font-bold tracking-tight">Tenant</h1>
      <TenantDetails current={current} isAdmin={isAdmin} />
      <Members isAdmin={isAdmin} me={state.profile} />
      {isAdmin && <Invitations />}
      <LeaveOrDelete current={current} isAdmin={isAdmin} />
    </div>
  )
}

/** Refetches what a change to the active tenant's membership can affect. */
function useInvalidateTenant() {
  const queryClient = useQueryClient()
  return () =>
    Promise.all(
      [['tenant'], ['members'], ['myTenants'], ['invitations'], keys.me].map((queryKey) => queryClient.invalidateQueries({ queryKey })),
    )
}

function TenantDetails({ current, isAdmin }: { current: MyTenant; isAdmin: boolean }) {
  const { api } = useSession()
  const tenant = useQuery({ queryKey: keys.tenant(api.tenantId), queryFn: () => api.tenant() })
  if (tenant.isPending || (tenant.isError && tenant.isFetching)) return <SkeletonRows rows={2} label="Loading tenant…" />
  if (tenant.isError)
    return <ErrorState title="We could not load your tenant" message={tenant.error.message} onRetry={() => void tenant.refetch()} />
  return (
    <Card
      title={tenant.data.displayName || 'Your tenant'}
      description={`The workspace you are working in. Your role: ${current.role}.`}
      actions={isAdmin ? <RenameTenant name={tenant.data.displayName} /> : undefined}
    >
      <dl className="grid gap-4 sm:grid-cols-3">
        <Fact label="Tenant ID" testId="active-tenant-id" className="break-all font-mono text-sm">
          {tenant.data.id}
        </Fact>
        <Fact label="Members">{tenant.data.members}</Fact>
        <Fact label="Kind" className="capitalize">
          {tenant.data.kind}
          {tenant.data.suspended ? ' · suspended' : ''}
        </Fact>
      </dl>
    </Card>
  )
}

function RenameTenant({ name }: { name: string }) {
  const { api } = useSession()
  const invalidate = useInvalidateTenant()
  const [editing, setEditing] = useState(false)
  const [value, setValue] = useState(name)
  const rename = useMutation({
    mutationFn: (displayName: string) => api.renameTenant(displayName),
    onSuccess: async () => {
      setEditing(false)
      await invalidate()
    },
  })
  if (!editing) {
    return (
      <div className="flex flex-col items-end">
        <button
          type="button"
          className={buttonClass}
          onClick={() => {
            setValue(name)
            rename.reset()
            setEditing(true)
          }}
        >
          Rename
        </button>
        {rename.isSuccess && (
          <span role="status" className="mt-1 text-sm text-emerald-800">
            Tenant renamed.
          </span>
        )}
      </div>
    )
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    rename.mutate(value.trim())
  }
  return (
    <form onSubmit={submit} className="flex w-full flex-col gap-2 sm:w-auto" noValidate>
      <label className="text-sm font-medium text-stone-700">
        Tenant name
        <input
          autoFocus
          value={value}
          maxLength={100}
          onChange={(e) => setValue(e.target.value)}
          className={`${inputClass} mt-1 block w-full sm:w-72`}
        />
      </label>
      <div className="flex gap-2">
        <button type="submit" className={primaryClass} disabled={rename.isPending}>
          {rename.isPending ? 'Saving…' : 'Save name'}
        </button>
        <button type="button" className={buttonClass} onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
      <ActionError error={rename.error} />
    </form>
  )
}

function Members({ isAdmin, me }: { isAdmin: boolean; me: Profile }) {
  const { api } = useSession()
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0])
  // tokens[i] is the token of page i; page 0 has none. Going back pops, so paging works with opaque tokens.
  const [tokens, setTokens] = useState<string[]>([''])
  const page = tokens.length - 1
  const token = tokens[page]
  const members = useQuery({ queryKey: keys.members(api.tenantId, pageSize, token), queryFn: () => api.members(pageSize, token) })
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
    <Card title="Members" description="Everyone in this tenant, with their role." actions={sizeSelect}>
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
                {isAdmin && (
                  <th scope="col" className="px-5 py-2 font-medium sm:px-3">
                    Actions
                  </th>
                )}
              </tr>
            </thead>
            <tbody className="divide-y divide-stone-100">
              {data.members.map((m) => (
                <MemberRow key={m.userId || m.email} member={m} isAdmin={isAdmin} isMe={m.userId === me.userId} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav aria-label="Members pages" className="mt-4 flex items-center justify-between gap-3">
        <button type="button" disabled={page === 0 || loading} onClick={() => setTokens((t) => t.slice(0, -1))} className={buttonClass}>
          Previous
        </button>
        <span className="text-sm text-stone-600">Page {page + 1}</span>
        <button type="button" disabled={!nextPageToken} onClick={() => setTokens((t) => [...t, nextPageToken])} className={buttonClass}>
          Next
        </button>
      </nav>
    </Card>
  )
}

function MemberRow({ member: m, isAdmin, isMe }: { member: Profile; isAdmin: boolean; isMe: boolean }) {
  const { api } = useSession()
  const invalidate = useInvalidateTenant()
  const who = m.name || m.email
  const role = useMutation({ mutationFn: (r: string) => api.changeRole(m.userId, r), onSettled: () => invalidate() })
  const current = m.role ?? 'member'
  const roles = ROLES.includes(current) ? ROLES : [...ROLES, current]
  return (
    <tr data-testid={`member-${m.email}`}>
      <td className="px-5 py-2.5 sm:px-3">
        {m.name || '—'}
        {isMe && <span className="ml-1 text-stone-600">(you)</span>}
      </td>
      <td className="break-all px-5 py-2.5 sm:px-3">{m.email}</td>
      <td className="px-5 py-2.5 capitalize sm:px-3">
        {isAdmin ? (
          <>
            <select
              aria-label={`Role of ${who}`}
              value={role.isPending ? role.variables : current}
              disabled={role.isPending}
              onChange={(e) => role.mutate(e.target.value)}
              className="rounded-lg border border-stone-300 bg-white px-2 py-1 capitalize"
            >
              {roles.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
            <ActionError error={role.error} />
          </>
        ) : (
          current
        )}
      </td>
      <td className="hidden px-5 py-2.5 sm:table-cell sm:px-3">{formatDate(m.memberSince)}</td>
      {isAdmin && (
        <td className="px-5 py-2.5 sm:px-3">
          {!isMe && (
            <ConfirmAction
              label={`Remove ${who}`}
              question={`Remove ${who} from this tenant? They lose access at once.`}
              confirmLabel="Remove"
              onConfirm={async () => {
                await api.removeMember(m.userId)
                await invalidate()
              }}
            />
          )}
        </td>
      )}
    </tr>
  )
}

const STATUS_FILTERS: { value: InvitationStatus | ''; label: string }[] = [
  { value: 'pending', label: 'Pending' },
  { value: '', label: 'All' },
  { value: 'accepted', label: 'Accepted' },
  { value: 'revoked', label: 'Revoked' },
  { value: 'expired', label: 'Expired' },
]

function Invitations() {
  const { api } = useSession()
  const [status, setStatus] = useState<InvitationStatus | ''>('pending')
  const list = useQuery({
    queryKey: keys.invitations(api.tenantId, status),
    queryFn: () => api.invitations(status || undefined),
  })
  const filter = (
    <label className="flex items-center gap-2 text-sm text-stone-700">
      Show
      <select
        value={status}
        onChange={(e) => setStatus(e.target.value as InvitationStatus | '')}
        className="rounded-lg border border-stone-300 bg-white px-2 py-1"
      >
        {STATUS_FILTERS.map((f) => (
          <option key={f.value} value={f.value}>
            {f.label}
          </option>
        ))}
      </select>
    </label>
  )
  return (
    <Card title="Invitations" description="Invite people by email; the link in the mail lets them join." actions={filter}>
      <InviteForm />
      <div className="mt-6">
        {list.isPending && <SkeletonRows rows={2} label="Loading invitations…" />}
        {list.isError && (
          <ErrorState title="We could not load the invitations" message={list.error.message} onRetry={() => void list.refetch()} />
        )}
        {list.data && list.data.length === 0 && <EmptyState title={status ? `No ${status} invitations` : 'No invitations yet'} />}
        {list.data && list.data.length > 0 && (
          <ul className="divide-y divide-stone-100" aria-label="Invitations">
            {list.data.map((inv) => (
              <InvitationRow key={inv.id} inv={inv} />
            ))}
          </ul>
        )}
      </div>
    </Card>
  )
}

function InviteForm() {
  const { api } = useSession()
  const invalidate = useInvalidateTenant()
  const [email, setEmail] = useState('')
  const [role, setRole] = useState('member')
  const roleId = useId()
  const invite = useMutation({
    mutationFn: () => api.invite(email.trim(), role),
    onSuccess: async () => {
      setEmail('')
      await invalidate()
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    invite.mutate()
  }
  return (
    <form onSubmit={submit} className="flex flex-col gap-3 sm:flex-row sm:flex-wrap sm:items-end" noValidate>
      <label className="min-w-0 flex-1 text-sm font-medium text-stone-700 sm:min-w-[16rem]">
        Email address
        <input
          type="email"
          autoComplete="off"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          className={`${inputClass} mt-1 block w-full`}
        />
      </label>
      <div className="text-sm font-medium text-stone-700">
        <label htmlFor={roleId}>Role</label>
        <select id={roleId} value={role} onChange={(e) => setRole(e.target.value)} className={`${inputClass} mt-1 block capitalize`}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <button type="submit" className={primaryClass} disabled={invite.isPending || !email.trim()}>
        {invite.isPending ? 'Sending…' : 'Send invitation'}
      </button>
      <div aria-live="polite" className="sm:basis-full">
        {invite.isSuccess && (
          <p role="status" className="text-sm text-emerald-800">
            Invitation sent to {invite.data.email}.
          </p>
        )}
        <ActionError error={invite.error} />
      </div>
    </form>
  )
}

function InvitationRow({ inv }: { inv: Invitation }) {
  const { api } = useSession()
  const invalidate = useInvalidateTenant()
  const resend = useMutation({ mutationFn: () => api.resendInvitation(inv.id), onSuccess: () => invalidate() })
  const open = inv.status === 'pending' || inv.status === 'expired'
  return (
    <li className="flex flex-wrap items-start justify-between gap-3 py-3" data-testid={`invitation-${inv.email}`}>
      <div>
        <p className="font-medium break-all">{inv.email}</p>
        <p className="text-sm text-stone-600">
          <span className="capitalize">{inv.role}</span> · <span className="capitalize">{inv.status}</span> · invited by{' '}
          {inv.invitedByName || 'an admin'} on {formatDate(inv.createdAt)}
          {open && ` · link valid until ${formatDate(inv.expiresAt)}`}
        </p>
        {resend.isSuccess && (
          <p role="status" className="text-sm text-emerald-800">
            Sent again, with a new link.
          </p>
        )}
        <ActionError error={resend.error} />
      </div>
      {open && (
        <div className="flex flex-wrap items-start gap-2">
          <button type="button" className={buttonClass} disabled={resend.isPending} onClick={() => resend.mutate()}>
            {resend.isPending ? 'Sending…' : `Resend to ${inv.email}`}
          </button>
          <ConfirmAction
            label={`Revoke invitation of ${inv.email}`}
            question={`Revoke the invitation of ${inv.email}? Its link stops working.`}
            confirmLabel="Revoke"
            onConfirm={async () => {
              await api.revokeInvitation(inv.id)
              await invalidate()
            }}
          />
        </div>
      )}
    </li>
  )
}

function LeaveOrDelete({ current, isAdmin }: { current: MyTenant; isAdmin: boolean }) {
  const { api } = useSession()
  const { exited } = useTenancy()
  const name = `“${current.displayName}”`
  return (
    <Card title="Leave or delete" description="Leaving ends your membership; deleting ends the tenant for everyone.">
      <div className="flex flex-col gap-4 sm:flex-row sm:items-start">
        <ConfirmAction
          label="Leave tenant"
          question={`Leave ${name}? You lose access to it until an admin invites you again.`}
          confirmLabel="Leave for good"
          onConfirm={async () => {
            await api.leaveTenant()
            await exited(`You left ${name}.`)
          }}
        />
        {isAdmin && (
          <ConfirmAction
            label="Delete tenant"
            question={`Delete ${name} for everyone? Its members keep their other tenants. This cannot be undone.`}
            confirmLabel="Delete tenant for good"
            onConfirm={async () => {
              await api.deleteTenant()
              await exited(`You deleted ${name}.`)
            }}
          />
        )}
      </div>
    </Card>
  )
}
