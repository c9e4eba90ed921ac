import { useMutation } from '@tanstack/react-query'
import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import type { ApiError, Profile as ProfileData } from '../api'
import { Card, ErrorState, SkeletonRows, Spinner, formatDate } from '../components/States'
import { useMe } from '../me'
import { useSession } from '../session'

export function ProfilePage() {
  const { state, reload } = useMe()
  useEffect(() => {
    document.title = 'Profile · Connected BBQ'
  }, [])
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold tracking-tight">Your profile</h1>
      {state.kind === 'loading' && (
        <Card title="Account">
          <SkeletonRows rows={5} label="Loading your profile…" />
        </Card>
      )}
      {state.kind === 'provisioning' && (
        <Card title="Account">
          <Spinner label="We are setting up your account. This takes a few seconds after you verify your email…" />
        </Card>
      )}
      {state.kind === 'error' && <ErrorState title="We could not load your profile" message={state.error.message} onRetry={reload} />}
      {state.kind === 'ready' && <ProfileDetails profile={state.profile} />}
    </div>
  )
}

function ProfileDetails({ profile }: { profile: ProfileData }) {
  return (
    <Card title="Account" description="Your details as the platform knows them.">
      <dl className="divide-y divide-stone-100">
        <Row label="Name">
          <NameEditor profile={profile} />
        </Row>
        <Row label="Email">{profile.email || '—'}</Row>
        <Row label="Email verified">
          {profile.emailVerified ? (
            <span className="inline-flex items-center rounded-full bg-emerald-50 px-2.5 py-0.5 text-sm font-medium text-emerald-800 ring-1 ring-emerald-200">
              Verified
            </span>
          ) : (
            <span className="inline-flex items-center rounded-full bg-amber-50 px-2.5 py-0.5 text-sm font-medium text-amber-900 ring-1 ring-amber-200">
              Not verified
            </span>
          )}
        </Row>
        <Row label="Tenant">
          <code className="break-all rounded bg-stone-100 px-1.5 py-0.5 font-mono text-sm" data-testid="tenant-id">
            {profile.tenantId || '—'}
          </code>
          {profile.role === 'admin' && <span className="ml-2 text-sm text-stone-600">(admin)</span>}
        </Row>
        <Row label="User ID">
          <code className="break-all rounded bg-stone-100 px-1.5 py-0.5 font-mono text-sm">{profile.userId || '—'}</code>
        </Row>
        <Row label="Member since">{formatDate(profile.memberSince)}</Row>
      </dl>
    </Card>
  )
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="grid gap-1 py-3 sm:grid-cols-3 sm:gap-4">
      <dt className="text-sm font-medium text-stone-600">{label}</dt>
      <dd className="text-stone-900 sm:col-span-2">{children}</dd>
    </div>
  )
}

const MAX_NAME = 100

function NameEditor({ profile }: { profile: ProfileData }) {
  const { api } = useSession()
  const { setProfile } = useMe()
  const [editing, setEditing] = useState(false)
  const [value, setValue] = useState(profile.name)
  const [error, setError] = useState('')
  const [notice, setNotice] = useState('')
  const inputRef = useRef<HTMLInputElement>(null)
  const editRef = useRef<HTMLButtonElement>(null)
  const errorId = useId()

  useEffect(() => {
    if (editing) inputRef.current?.focus()
  }, [editing])

  const cancel = () => {
    setEditing(false)
    setValue(profile.name)
    setError('')
    requestAnimationFrame(() => editRef.current?.focus())
  }

  const save = useMutation<ProfileData, ApiError, string>({
    mutationFn: (name) => api.updateName(name),
    onSuccess: (updated, name) => {
      setProfile({ ...profile, ...updated, name: updated.name || name })
      setEditing(false)
      setNotice('Name updated.')
      requestAnimationFrame(() => editRef.current?.focus())
    },
    onError: (err) => setError(err.message || 'Saving failed. Try again.'),
  })
  const saving = save.isPending

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const name = value.trim()
    if (!name) return setError('Enter your name.')
    if (name.length > MAX_NAME) return setError(`Use at most ${MAX_NAME} characters.`)
    setError('')
    save.mutate(name)
  }

  if (!editing) {
    return (
      <div className="flex flex-wrap items-center gap-3">
        <span data-testid="profile-name">{profile.name || '—'}</span>
        <button
          ref={editRef}
          type="button"
          onClick={() => {
            setValue(profile.name)
            setNotice('')
            setEditing(true)
          }}
          className="rounded-lg px-2.5 py-1 text-sm font-medium text-ember-700 ring-1 ring-ember-100 hover:bg-ember-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600"
        >
          Edit name
        </button>
        <span role="status" className="text-sm text-emerald-800">
          {notice}
        </span>
      </div>
    )
  }
  return (
    <form onSubmit={submit} className="flex flex-col gap-2 sm:flex-row sm:items-start" noValidate>
      <div className="flex-1">
        <label htmlFor="name-input" className="sr-only">
          Name
        </label>
        <input
          id="name-input"
          ref={inputRef}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={(e) => e.key === 'Escape' && cancel()}
          autoComplete="name"
          maxLength={MAX_NAME + 20}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
          className="w-full rounded-lg border border-stone-300 px-3 py-2 focus:border-ember-600 focus:outline-2 focus:outline-ember-600"
        />
        {error && (
          <p id={errorId} role="alert" className="mt-1 text-sm text-red-700">
            {error}
          </p>
        )}
      </div>
      <div className="flex gap-2">
        <button
          type="submit"
          disabled={saving}
          className="rounded-lg bg-ember-700 px-3 py-2 text-sm font-semibold text-white hover:bg-ember-800 disabled:opacity-60 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-700"
        >
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button
          type="button"
          onClick={cancel}
          className="rounded-lg px-3 py-2 text-sm font-medium text-stone-700 ring-1 ring-stone-300 hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600"
        >
          Cancel
        </button>
      </div>
    </form>
  )
}
